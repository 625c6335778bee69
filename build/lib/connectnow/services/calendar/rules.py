"""Event rules that need no storage: times in zones, windows, recurrence sanity, busy windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectnow import errors
from connectnow.clock import to_millis
from connectnow.errors import AppError
from connectnow.services.calendar import recurrence
from models.calendar_events import EventRecord

MAX_PREP_WINDOW = timedelta(days=1)  # setup may start at most a day before, teardown end a day after
MAX_EVENT_LENGTH = timedelta(days=366)
TIME_FIELDS = (
    "start_time",
    "end_time",
    "setup_start_time",
    "setup_end_time",
    "teardown_start_time",
    "teardown_end_time",
)


def as_utc(value: datetime, zone: str) -> datetime:
    """A client time: with an offset it is that instant; without one it is wall-clock time in `zone`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return to_millis(value.astimezone(UTC))


def convert_times(fields: dict[str, Any], zone: str) -> dict[str, Any]:
    return {k: (as_utc(v, zone) if k in TIME_FIELDS and isinstance(v, datetime) else v) for k, v in fields.items()}


def check_times(event: EventRecord) -> None:
    """End after start; setup before the start and teardown after the end, each a closed pair."""
    if event.end_time <= event.start_time:
        raise AppError(errors.EVENT_TIME_INVALID, "endTime must be after startTime")
    if event.end_time - event.start_time > MAX_EVENT_LENGTH:
        raise AppError(errors.EVENT_TIME_INVALID, "An event lasts at most a year")
    setup = (event.setup_start_time, event.setup_end_time)
    if (setup[0] is None) != (setup[1] is None):
        raise AppError(errors.EVENT_TIME_INVALID, "Give both setupStartTime and setupEndTime, or neither")
    if setup[0] is not None and setup[1] is not None:
        if not setup[0] <= setup[1] <= event.start_time:
            raise AppError(errors.EVENT_TIME_INVALID, "Setup must run before the event starts")
        if event.start_time - setup[0] > MAX_PREP_WINDOW:
            raise AppError(errors.EVENT_TIME_INVALID, "Setup may start at most a day before the event")
    teardown = (event.teardown_start_time, event.teardown_end_time)
    if (teardown[0] is None) != (teardown[1] is None):
        raise AppError(errors.EVENT_TIME_INVALID, "Give both teardownStartTime and teardownEndTime, or neither")
    if teardown[0] is not None and teardown[1] is not None:
        if not event.end_time <= teardown[0] <= teardown[1]:
            raise AppError(errors.EVENT_TIME_INVALID, "Teardown must run after the event ends")
        if teardown[1] - event.end_time > MAX_PREP_WINDOW:
            raise AppError(errors.EVENT_TIME_INVALID, "Teardown may end at most a day after the event")


def check_recurrence(event: EventRecord) -> None:
    pattern = event.recurrence_pattern
    if pattern is None:
        return
    local_start = recurrence.local_naive(event.start_time, event.time_zone)
    if pattern.end_date is not None and pattern.end_date < local_start.date():
        raise AppError(errors.RECURRENCE_INVALID, "endDate is before the first occurrence")
    if event.end_time - event.start_time > timedelta(days=pattern.interval) and pattern.type.value == "daily":
        raise AppError(errors.RECURRENCE_INVALID, "Instances of a daily series may not overlap each other")


def range_end(event: EventRecord) -> datetime:
    """The indexed end of an event's span: its busy end, or the end of the series' last instance."""
    if event.recurrence_pattern is not None:
        last_end = recurrence.series_range_end(event)
        if last_end == recurrence.SERIES_OPEN_END:
            return last_end
        return last_end + (busy_window(event)[1] - event.end_time)
    return busy_window(event)[1]


def busy_window(event: EventRecord) -> tuple[datetime, datetime]:
    """Setup and teardown count as busy time for the location."""
    return (event.setup_start_time or event.start_time, event.teardown_end_time or event.end_time)


def instance_busy(event: EventRecord, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """An instance's busy window: the series' setup and teardown offsets around that instance."""
    before = event.start_time - (event.setup_start_time or event.start_time)
    after = (event.teardown_end_time or event.end_time) - event.end_time
    return start - before, end + after
