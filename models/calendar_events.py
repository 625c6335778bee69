"""Calendar events (seed 004 `events`): every seed field, recurrence, attendees, reminders."""

from __future__ import annotations

import calendar as _calendar
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, EmailStr, Field, PlainSerializer, model_validator

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.calendar import ShortList
from models.zones import is_known_zone

MAX_ATTENDEES = 500
MAX_OCCURRENCES = 1000  # occurrenceCount bound: an unbounded count would be an unbounded series
MAX_INTERVAL = 999
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _zone(name: str) -> str:
    # The known keys rule out paths like "../../etc/passwd" that ZoneInfo might try to open, and "localtime".
    if not is_known_zone(name):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


TimeZoneName = Annotated[str, Text(1, 64, strip=False), AfterValidator(_zone)]


class RecurrenceType(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


class RecurrencePattern(InputModel):
    """The seed's recurrence_pattern. endDate is the last local day (inclusive); or a count; not both."""

    type: RecurrenceType
    interval: int = Field(1, ge=1, le=MAX_INTERVAL)
    days_of_week: Annotated[list[Weekday], Field(max_length=7)] = Field(default_factory=list)
    day_of_month: int | None = Field(None, ge=1, le=31)
    month: int | None = Field(None, ge=1, le=12, description="yearly only: the month of dayOfMonth")
    end_date: date | None = None
    occurrence_count: int | None = Field(None, ge=1, le=MAX_OCCURRENCES)

    @model_validator(mode="after")
    def _consistent(self) -> RecurrencePattern:
        if self.end_date is not None and self.occurrence_count is not None:
            raise ValueError("give endDate or occurrenceCount, not both")
        if self.type is RecurrenceType.WEEKLY and not self.days_of_week:
            raise ValueError("a weekly rule needs at least one day in daysOfWeek")
        if self.type is not RecurrenceType.WEEKLY and self.days_of_week:
            raise ValueError("daysOfWeek is for weekly rules only")
        if self.day_of_month is not None and self.type not in (RecurrenceType.MONTHLY, RecurrenceType.YEARLY):
            raise ValueError("dayOfMonth is for monthly and yearly rules only")
        if self.month is not None and self.type is not RecurrenceType.YEARLY:
            raise ValueError("month is for yearly rules only")
        # February 30 never happens; February 29 does, in leap years (2000 is one).
        days_in_month = _calendar.monthrange(2000, self.month)[1] if self.month is not None else 31
        if self.day_of_month is not None and self.day_of_month > days_in_month:
            raise ValueError(f"day {self.day_of_month} never occurs in month {self.month}")
        return self


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ResponseStatus(StrEnum):
    NONE = "none"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"


class SyncStatus(StrEnum):
    SYNCED = "synced"
    PENDING = "pending"
    ERROR = "error"
    NOT_SYNCED = "not_synced"


class Attendee(WireModel):
    email: str
    name: str | None = None
    response_status: ResponseStatus = ResponseStatus.NONE
    is_organizer: bool = False


class AttendeeIn(InputModel):
    email: EmailStr
    name: Annotated[str, Text(0, 200)] | None = None
    response_status: ResponseStatus = ResponseStatus.NONE
    is_organizer: bool = False


class Reminder(WireModel):
    channel_id: str
    minutes_before: int


class ReminderIn(InputModel):
    channel_id: IdStr
    minutes_before: int = Field(15, ge=0, le=7 * 24 * 60)


# BSON has no date type: the end date is kept as ISO text ("2026-12-31") on both adapters.
IsoDate = Annotated[date, PlainSerializer(lambda d: d.isoformat(), return_type=str)]


class StoredPattern(WireModel):
    type: RecurrenceType
    interval: int = 1
    days_of_week: list[Weekday] = Field(default_factory=list)
    day_of_month: int | None = None
    month: int | None = None
    end_date: IsoDate | None = None
    occurrence_count: int | None = None


class EventFields(InputModel):
    """What a client may set on an event (all optional: shared by create, update and instance edits)."""

    title: Annotated[str, Text(1, 300)] | None = None
    description: Annotated[str, Text(0, 8000, strip=False)] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    time_zone: TimeZoneName | None = None
    all_day: bool | None = None
    location: Annotated[str, Text(0, 300)] | None = None
    location_id: IdStr | None = None
    category: Annotated[str, Text(0, 100)] | None = None
    category_id: IdStr | None = None
    setup_start_time: datetime | None = None
    setup_end_time: datetime | None = None
    teardown_start_time: datetime | None = None
    teardown_end_time: datetime | None = None
    internal_notes: Annotated[str, Text(0, 8000, strip=False)] | None = None
    equipment_required: ShortList | None = None
    staff_assigned: ShortList | None = None
    budget_allocated: float | None = Field(None, ge=0, le=1e12, allow_inf_nan=False)
    client_contact: Annotated[str, Text(0, 300)] | None = None
    internal_category: Annotated[str, Text(0, 100)] | None = None
    priority_level: Priority | None = None
    attendees: Annotated[list[AttendeeIn], Field(max_length=MAX_ATTENDEES)] | None = None
    reminder: ReminderIn | None = None


class EventCreate(EventFields):
    calendar_id: IdStr
    title: Annotated[str, Text(1, 300)]
    start_time: datetime
    end_time: datetime
    time_zone: TimeZoneName = "UTC"
    recurrence_pattern: RecurrencePattern | None = None


class EventUpdate(EventFields):
    calendar_id: IdStr | None = None
    recurrence_pattern: RecurrencePattern | None = None
    clear_recurrence: bool = False
    clear_fields: Annotated[list[Annotated[str, Text(1, 40)]], Field(max_length=30)] = Field(default_factory=list)


class SplitRequest(EventFields):
    """'This and following': the series ends before `fromOriginalStart`; a new series starts there."""

    from_original_start: datetime
    recurrence_pattern: RecurrencePattern | None = None


class AttendeeResponse(InputModel):
    email: EmailStr
    response_status: ResponseStatus


class EventRecord(StoredModel):
    user_id: str
    calendar_id: str
    uid: str  # iCalendar UID: import is idempotent by it
    title: str
    description: str | None = None
    start_time: UtcDateTime
    end_time: UtcDateTime
    time_zone: str = "UTC"
    all_day: bool = False
    location: str | None = None
    location_id: str | None = None
    category: str | None = None
    category_id: str | None = None
    setup_start_time: UtcDateTime | None = None
    setup_end_time: UtcDateTime | None = None
    teardown_start_time: UtcDateTime | None = None
    teardown_end_time: UtcDateTime | None = None
    internal_notes: str | None = None
    equipment_required: list[str] = Field(default_factory=list)
    staff_assigned: list[str] = Field(default_factory=list)
    budget_allocated: float | None = None
    client_contact: str | None = None
    internal_category: str | None = None
    priority_level: Priority | None = None
    attendees: list[Attendee] = Field(default_factory=list)
    reminder: Reminder | None = None
    is_recurring: bool = False
    recurrence_pattern: StoredPattern | None = None
    recurrence_master_id: str | None = None  # set on exceptions (one edited instance of a series)
    original_start_time: UtcDateTime | None = None  # the instance an exception replaces (RECURRENCE-ID)
    original_key: str = "-"  # "-" for masters and single events, else originalStartTime as ISO text
    exdates: list[UtcDateTime] = Field(default_factory=list)  # cancelled instances of a master
    # Indexed bounds for range queries: a single event spans [startTime, rangeEnd); a series spans from
    # its first start to the end of its last instance (a far-future sentinel when it never ends).
    range_end: UtcDateTime
    outlook_event_id: str | None = None
    outlook_etag: str | None = None
    google_event_id: str | None = None
    sync_status: SyncStatus = SyncStatus.NOT_SYNCED
    last_synced: UtcDateTime | None = None
    sync_errors: list[str] = Field(default_factory=list)
    sequence: int = 0
    version: int = 1
    created_at: UtcDateTime
    updated_at: UtcDateTime
    created_by: str
    last_modified_by: str


class EventPublic(WireModel):
    id: str
    user_id: str
    calendar_id: str
    uid: str
    title: str
    description: str | None = None
    start_time: UtcDateTime
    end_time: UtcDateTime
    time_zone: str
    all_day: bool
    location: str | None = None
    location_id: str | None = None
    category: str | None = None
    category_id: str | None = None
    setup_start_time: UtcDateTime | None = None
    setup_end_time: UtcDateTime | None = None
    teardown_start_time: UtcDateTime | None = None
    teardown_end_time: UtcDateTime | None = None
    internal_notes: str | None = None
    equipment_required: list[str]
    staff_assigned: list[str]
    budget_allocated: float | None = None
    client_contact: str | None = None
    internal_category: str | None = None
    priority_level: Priority | None = None
    attendees: list[Attendee]
    reminder: Reminder | None = None
    is_recurring: bool
    recurrence_pattern: StoredPattern | None = None
    recurrence_master_id: str | None = None
    original_start_time: UtcDateTime | None = None
    exdates: list[UtcDateTime] = Field(default_factory=list)
    sync_status: SyncStatus
    outlook_event_id: str | None = None
    google_event_id: str | None = None
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    created_by: str
    last_modified_by: str


class EventInstance(WireModel):
    """One occurrence in a range query: a single event, an expanded instance, or an exception."""

    event_id: str  # the stored event (the master for an expanded instance)
    master_id: str | None = None
    calendar_id: str
    title: str
    start_time: UtcDateTime
    end_time: UtcDateTime
    time_zone: str
    all_day: bool
    original_start_time: UtcDateTime | None = None
    location: str | None = None
    location_id: str | None = None
    is_exception: bool = False


class Conflict(WireModel):
    kind: str  # "calendar": overlaps on the same calendar; "location": the location is busy then
    start_time: UtcDateTime
    end_time: UtcDateTime
    event_id: str | None = None  # only for the caller's own events
    title: str | None = None


class EventSaved(WireModel):
    event: EventPublic
    conflicts: list[Conflict] = Field(default_factory=list)
