"""Scheduling policy rules as pure functions over a host's policy and existing meetings.

The same evaluator guards booking creation, rescheduling and the availability listing, so a slot that is
offered can be booked and a booking that is refused is never offered. Every interval is half-open
[start, end): a meeting ending at 10:00 and one starting at 10:00 do not clash. Local times (working and
quiet hours, day and week limits) are computed with zoneinfo in the configured zone and compared in UTC,
so a day with a DST change lasts 23 or 25 hours and an hour that does not exist locally is handled by
zoneinfo's fold rules rather than by arithmetic on offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectnow import errors
from connectnow.errors import AppError
from models.scheduling import WEEKDAYS, BookingRecord, PolicyRecord
from models.zones import is_known_zone

MAX_BOOKING_MINUTES = 24 * 60
MAX_BUFFER_MINUTES = 24 * 60
# Context loaded around a meeting: its ISO week plus the largest buffer on either side.
CONTEXT_MARGIN = timedelta(days=8)

RULE_OVERLAP = "overlap"
RULE_BUFFER = "bufferTimeMinutes"
RULE_WORKING_HOURS = "workingHours"
RULE_QUIET_HOURS = "quietHours"
RULE_MAX_DAY = "maxMeetingsPerDay"
RULE_MAX_WEEK = "maxMeetingsPerWeek"


def zone(name: str) -> ZoneInfo:
    """An IANA zone, or TIMEZONE_UNKNOWN (also for paths, "localtime" and names with spaces)."""
    if not is_known_zone(name):
        raise AppError(errors.TIMEZONE_UNKNOWN, details={"timeZone": name[:64]})
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise AppError(errors.TIMEZONE_UNKNOWN, details={"timeZone": name[:64]}) from exc


def as_utc(value: datetime) -> datetime:
    """Client datetimes must carry an offset: a naive one is ambiguous, so it is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise AppError(errors.BOOKING_TIME_INVALID, "Times need a UTC offset, e.g. 2027-01-05T09:00:00Z")
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def check_interval(start: datetime, end: datetime) -> int:
    """Validate a meeting's interval; returns its duration in whole minutes."""
    if end <= start:
        raise AppError(errors.BOOKING_TIME_INVALID, "The end must be after the start")
    minutes = (end - start).total_seconds() / 60
    if minutes > MAX_BOOKING_MINUTES:
        raise AppError(errors.BOOKING_TIME_INVALID, f"A meeting lasts at most {MAX_BOOKING_MINUTES} minutes")
    if minutes != int(minutes) or start.second or start.microsecond:
        raise AppError(errors.BOOKING_TIME_INVALID, "Meetings start on a whole minute and last whole minutes")
    return int(minutes)


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def error(self) -> AppError:
        return AppError(errors.SCHEDULING_POLICY_VIOLATION, self.message, details={"rule": self.rule, **self.details})


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _local_window(day: date, start: str, end: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) on `day` in `tz`, in UTC; an end at or before the start means the next day."""
    s, e = _hhmm(start), _hhmm(end)
    end_day = day if e > s else day + timedelta(days=1)
    return (
        datetime.combine(day, s, tzinfo=tz).astimezone(UTC),
        datetime.combine(end_day, e, tzinfo=tz).astimezone(UTC),
    )


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def check_working_hours(hours: Mapping[str, Any], start: datetime, end: datetime) -> Violation | None:
    if not hours.get("enabled", True):
        return None
    tz = zone(hours["timezone"])
    local_start = start.astimezone(tz).date()
    # A window opening the day before may run past midnight (night shifts).
    for day in (local_start - timedelta(days=1), local_start):
        if WEEKDAYS[day.weekday()] not in hours["days"]:
            continue
        ws, we = _local_window(day, hours["start"], hours["end"], tz)
        if ws <= start and end <= we:
            return None
    return Violation(
        RULE_WORKING_HOURS,
        "The meeting is outside the host's working hours",
        {"workingHours": {k: hours[k] for k in ("start", "end", "timezone", "days")}},
    )


def check_quiet_hours(quiet: Mapping[str, Any], start: datetime, end: datetime) -> Violation | None:
    if not quiet.get("enabled", True):
        return None
    tz = zone(quiet["timezone"])
    first = start.astimezone(tz).date() - timedelta(days=1)
    for day in _days(first, end.astimezone(tz).date()):
        if WEEKDAYS[day.weekday()] not in quiet["days"]:
            continue
        qs, qe = _local_window(day, quiet["start"], quiet["end"], tz)
        if qs < end and start < qe:
            return Violation(
                RULE_QUIET_HOURS,
                "The meeting falls in the host's quiet hours",
                {"quietHours": {k: quiet[k] for k in ("start", "end", "timezone", "days")}},
            )
    return None


def day_bounds(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    day = moment.astimezone(tz).date()
    return _midnight(day, tz), _midnight(day + timedelta(days=1), tz)


def week_bounds(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The ISO week (Monday 00:00 to the next Monday 00:00) in `tz`."""
    day = moment.astimezone(tz).date()
    monday = day - timedelta(days=day.weekday())
    return _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)


def check_limits(policy: PolicyRecord, start: datetime, existing: list[BookingRecord]) -> Violation | None:
    tz = zone(policy.time_zone)
    for rule, bounds, limit, label in (
        (RULE_MAX_DAY, day_bounds(start, tz), policy.max_meetings_per_day, "day"),
        (RULE_MAX_WEEK, week_bounds(start, tz), policy.max_meetings_per_week, "week"),
    ):
        lo, hi = bounds
        booked = sum(1 for b in existing if lo <= b.start_time < hi)
        if booked + 1 > limit:
            return Violation(
                rule,
                f"The host already has {booked} meeting(s) that {label} (limit {limit}, in {policy.time_zone})",
                {"limit": limit, "count": booked, "timeZone": policy.time_zone},
            )
    return None


def check_neighbours(
    start: datetime, end: datetime, buffer_minutes: int, existing: list[BookingRecord]
) -> Violation | None:
    """Overlap first, then buffers: the gap between two meetings must be at least the larger buffer."""
    for other in existing:
        if other.start_time < end and start < other.end_time:
            return Violation(RULE_OVERLAP, "The host already has a meeting at that time", {"conflictsWith": other.id})
    for other in existing:
        gap = timedelta(minutes=max(buffer_minutes, other.buffer_minutes))
        if other.start_time < end + gap and start - gap < other.end_time:
            return Violation(
                RULE_BUFFER,
                f"Meetings need {int(gap.total_seconds() // 60)} minutes between them",
                {"bufferMinutes": int(gap.total_seconds() // 60), "conflictsWith": other.id},
            )
    return None


def evaluate(
    policy: PolicyRecord, start: datetime, end: datetime, buffer_minutes: int, existing: list[BookingRecord]
) -> Violation | None:
    """The first rule the meeting breaks, or None. `existing`: the host's other active meetings nearby."""
    if policy.is_active:
        if policy.working_hours and (v := check_working_hours(policy.working_hours, start, end)):
            return v
        if policy.quiet_hours and (v := check_quiet_hours(policy.quiet_hours, start, end)):
            return v
    if v := check_neighbours(start, end, buffer_minutes, existing):
        return v
    if policy.is_active and (v := check_limits(policy, start, existing)):
        return v
    return None
