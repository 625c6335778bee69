"""Scheduling sidecar (seed 003): bookings and scheduling policies.

Stored bookings keep intake data only as AES-GCM ciphertext (`encryptedIntakeData`); everything shown
outside the participants uses `redactedDescription`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, field_validator

from models.base import InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.bounds import INT64_MAX, check_json_value

MAX_ATTENDEES = 50
MAX_JSON_BYTES = 16 * 1024  # metadata, intake data and provider ids, each, serialized

TimeOfDay = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
ZoneName = Annotated[str, Text(1, 64, strip=False)]  # exact: " UTC" is not UTC (TIMEZONE_UNKNOWN)
Reason = Annotated[str, Text(1, 500)]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _bounded_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    import orjson

    if value is None:
        return None
    check_json_value(value)  # first: orjson raises TypeError (a 500) on an integer past 64 bits
    if len(orjson.dumps(value)) > MAX_JSON_BYTES:
        raise ValueError(f"at most {MAX_JSON_BYTES} bytes once serialized")
    return value


BoundedJson = Annotated[dict[str, Any] | None, AfterValidator(_bounded_json)]


class Sensitivity(StrEnum):
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"


class BookingStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"


# Statuses that occupy the host's calendar: they count for limits, overlaps and buffers.
ACTIVE_STATUSES = (BookingStatus.PENDING, BookingStatus.ACCEPTED, BookingStatus.RESCHEDULED)


class Attendee(WireModel):
    name: Annotated[str, Text(1, 200)]
    email: EmailStr
    time_zone: ZoneName | None = None


class AttendeeIn(InputModel):
    name: Annotated[str, Text(1, 200)]
    email: EmailStr
    time_zone: ZoneName | None = None


class StatusChange(WireModel):
    status: BookingStatus
    at: UtcDateTime
    by: str
    reason: str | None = None


class BookingRecord(StoredModel):
    user_id: str  # the host whose calendar the meeting is on
    created_by: str  # who booked it
    cal_booking_id: int | None = None
    cal_booking_uid: str | None = None
    event_type_id: int
    event_type_title: str | None = None
    event_type_slug: str | None = None
    title: str
    description: str | None = None
    start_time: UtcDateTime
    end_time: UtcDateTime
    time_zone: str | None = None
    duration: int  # minutes
    buffer_minutes: int  # this meeting's own buffer; the larger of two neighbours' buffers applies
    location: str | None = None
    attendees: list[Attendee] = Field(default_factory=list)
    attendee_emails: list[str] = Field(default_factory=list)
    attendee_names: list[str] = Field(default_factory=list)
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    is_anonymous: bool = False
    provider_ids: dict[str, Any] | None = None
    encrypted_intake_data: str | None = None
    redacted_description: str | None = None
    metadata: dict[str, Any] | None = None
    status: BookingStatus = BookingStatus.PENDING
    status_history: list[StatusChange] = Field(default_factory=list)
    guest_nonce: str | None = None  # public bookings: the nonce the guest's cancel/reschedule links sign
    version: int = 1
    created_at: UtcDateTime
    updated_at: UtcDateTime


class BookingCreate(InputModel):
    user_id: Annotated[str, Text(1, 64)] = Field(description="The host: whose calendar the meeting goes on")
    cal_booking_id: int | None = Field(None, ge=1, le=2**53)
    cal_booking_uid: Annotated[str, Text(1, 255)] | None = None
    event_type_id: int = Field(ge=0, le=2**53)
    event_type_title: Annotated[str, Text(1, 255)] | None = None
    event_type_slug: Annotated[str, Text(1, 255)] | None = None
    title: Annotated[str, Text(1, 255)]
    description: Annotated[str, Text(0, 5000)] | None = None
    start_time: datetime
    end_time: datetime
    time_zone: ZoneName | None = None
    location: Annotated[str, Text(1, 500)] | None = None
    attendees: list[AttendeeIn] = Field(default_factory=list, max_length=MAX_ATTENDEES)
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    is_anonymous: bool = False
    buffer_minutes: int | None = Field(None, ge=0, le=24 * 60)
    provider_ids: BoundedJson = None
    intake_data: BoundedJson = None
    metadata: BoundedJson = None


class BookingReschedule(InputModel):
    start_time: datetime
    end_time: datetime
    reason: Reason
    expected_version: int | None = Field(None, ge=1, le=INT64_MAX)


class BookingDecision(InputModel):
    reason: Reason | None = None


class BookingPublic(WireModel):
    """What the host, the booker and administrators see."""

    id: str
    user_id: str
    created_by: str
    cal_booking_id: int | None = None
    cal_booking_uid: str | None = None
    event_type_id: int
    event_type_title: str | None = None
    event_type_slug: str | None = None
    title: str
    description: str | None = None
    redacted_description: str | None = None
    start_time: datetime
    end_time: datetime
    time_zone: str | None = None
    duration: int
    buffer_minutes: int
    location: str | None = None
    attendees: list[Attendee]
    attendee_emails: list[str]
    attendee_names: list[str]
    sensitivity: Sensitivity
    is_anonymous: bool
    provider_ids: dict[str, Any] | None = None
    intake_data: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    status: BookingStatus
    status_history: list[StatusChange]
    version: int
    created_at: datetime
    updated_at: datetime


class WorkingHours(InputModel):
    start: TimeOfDay
    end: TimeOfDay
    timezone: ZoneName
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]), max_length=7)
    enabled: bool = True

    @field_validator("days")
    @classmethod
    def _known_days(cls, value: list[str]) -> list[str]:
        days = [d.lower() for d in value]
        unknown = sorted(set(days) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown day(s): {', '.join(unknown)}")
        return sorted(set(days), key=WEEKDAYS.index)


class QuietHours(WorkingHours):
    """Hours when nothing may be booked; may cross midnight (22:00-08:00). Days default to every day."""

    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS), max_length=7)


class PolicyUpdate(InputModel):
    max_meetings_per_day: int = Field(8, ge=1, le=200)
    max_meetings_per_week: int = Field(40, ge=1, le=1000)
    buffer_time_minutes: int = Field(15, ge=0, le=24 * 60)
    time_zone: ZoneName = "UTC"
    quiet_hours: QuietHours | None = None
    working_hours: WorkingHours | None = None
    is_active: bool = True


class PolicyRecord(StoredModel):
    user_id: str
    max_meetings_per_day: int = 8
    max_meetings_per_week: int = 40
    buffer_time_minutes: int = 15
    time_zone: str = "UTC"
    quiet_hours: dict[str, Any] | None = None
    working_hours: dict[str, Any] | None = None
    is_active: bool = True
    # the host's public profile (seed 003 users): kept here, the sidecar's one record per host
    scheduling_username: str | None = None
    church_name: str | None = None
    role: str | None = None
    cal_user_id: str | None = None
    event_types: list[dict[str, Any]] = Field(default_factory=list)
    created_at: UtcDateTime
    updated_at: UtcDateTime


class PolicyPublic(WireModel):
    user_id: str
    max_meetings_per_day: int
    max_meetings_per_week: int
    buffer_time_minutes: int
    time_zone: str
    quiet_hours: dict[str, Any] | None = None
    working_hours: dict[str, Any] | None = None
    is_active: bool


class Slot(WireModel):
    start: datetime
    end: datetime


class Availability(WireModel):
    user_id: str
    duration_minutes: int
    slots: list[Slot]
