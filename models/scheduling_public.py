"""Public booking (seed 003 `schedulingUsername`/`schedulingLink`): the host's profile and what a
guest without an account sends and receives at the scheduling link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from models.base import InputModel, Text, WireModel
from models.dates import ClientDateTime
from models.scheduling import Reason, Slot, ZoneName

SchedulingUsername = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{2,39}$")]
Role = Literal["pastor", "admin"]


class EventType(InputModel):
    """One kind of meeting a guest may book (Cal.com's event type)."""

    id: int = Field(ge=0, le=2**53)
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    title: Annotated[str, Text(1, 255)]
    duration_minutes: int = Field(ge=1, le=24 * 60)
    description: Annotated[str, Text(0, 2000)] | None = None


class HostProfileUpdate(InputModel):
    """The whole profile; a field left out is cleared. Without `schedulingUsername` there is no public page."""

    scheduling_username: SchedulingUsername | None = None
    church_name: Annotated[str, Text(1, 255)] | None = None
    role: Role | None = None
    cal_user_id: Annotated[str, Text(1, 255)] | None = None
    event_types: list[EventType] = Field(default_factory=list, max_length=20)


class HostProfile(WireModel):
    user_id: str
    scheduling_username: str | None = None
    scheduling_link: str | None = None
    church_name: str | None = None
    role: Role | None = None
    cal_user_id: str | None = None
    event_types: list[EventType]


class PublicHost(WireModel):
    """What anyone sees at the scheduling link: no ids, no e-mail."""

    scheduling_username: str
    scheduling_link: str
    display_name: str
    church_name: str | None = None
    role: Role | None = None
    time_zone: str
    event_types: list[EventType]


class PublicSlots(WireModel):
    duration_minutes: int
    slots: list[Slot]


class GuestBookingCreate(InputModel):
    event_type_id: int = Field(ge=0, le=2**53)
    start_time: ClientDateTime
    name: Annotated[str, Text(1, 200)]
    email: EmailStr
    time_zone: ZoneName | None = None
    notes: Annotated[str, Text(0, 2000)] | None = None


class GuestCancel(InputModel):
    reason: Reason | None = None


class GuestReschedule(InputModel):
    start_time: ClientDateTime
    reason: Reason | None = None


class GuestBookingReceipt(WireModel):
    """The booking as the guest sees it, the links that change it (each usable once), and the invitation."""

    booking_id: str
    status: str
    title: str
    start_time: datetime
    end_time: datetime
    cancel_token: str | None = None
    cancel_path: str | None = None
    reschedule_token: str | None = None
    reschedule_path: str | None = None
    invitation: str | None = Field(None, description="The ICS invitation (text/calendar), links included")
