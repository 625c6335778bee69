"""Recurrence: the seed's pattern as an RFC 5545 rule, expanded in the event's own time zone.

Rules are expanded on local wall-clock times (python-dateutil's rrule) and each occurrence is then placed in
its IANA zone (zoneinfo), so a 09:00 weekly meeting stays at 09:00 local across DST changes while its UTC
instant moves. Two dateutil details are handled here:
- dateutil does not yield DTSTART unless it matches the rule; RFC 5545 says DTSTART is always the first
  instance and counts toward COUNT. When it does not match, it is added and COUNT is reduced by one.
- UNTIL is inclusive; the seed's end date is a local calendar day, so UNTIL is the end of that day.
A time inside a spring-forward gap takes the offset from before the gap (zoneinfo fold=0), as RFC 5545
section 3.3.5 asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil import rrule

from models.calendar_events import EventRecord, RecurrenceType, StoredPattern, Weekday

SERIES_OPEN_END = datetime(9999, 12, 31, tzinfo=UTC)  # rangeEnd of a series that never ends
MAX_SERIES_SCAN = 10_000  # instances counted to find a series' last end before calling it open-ended

_FREQ = {
    RecurrenceType.DAILY: rrule.DAILY,
    RecurrenceType.WEEKLY: rrule.WEEKLY,
    RecurrenceType.MONTHLY: rrule.MONTHLY,
    RecurrenceType.YEARLY: rrule.YEARLY,
}
_WEEKDAY = {
    Weekday.MONDAY: rrule.MO,
    Weekday.TUESDAY: rrule.TU,
    Weekday.WEDNESDAY: rrule.WE,
    Weekday.THURSDAY: rrule.TH,
    Weekday.FRIDAY: rrule.FR,
    Weekday.SATURDAY: rrule.SA,
    Weekday.SUNDAY: rrule.SU,
}


@dataclass(frozen=True, slots=True)
class Occurrence:
    original_start: datetime  # UTC: the instance's identity (RECURRENCE-ID)
    start: datetime  # UTC
    end: datetime  # UTC


def local_naive(value: datetime, zone: str) -> datetime:
    return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def to_utc(local: datetime, zone: str) -> datetime:
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def until_local(end_date: date) -> datetime:
    """The seed's end date is inclusive: the rule may produce instances until the end of that local day."""
    return datetime.combine(end_date, time(23, 59, 59))


def _rule(pattern: StoredPattern, dtstart: datetime, count: int | None) -> rrule.rrule:
    kwargs: dict[str, object] = {"dtstart": dtstart, "interval": pattern.interval, "cache": False}
    if pattern.type is RecurrenceType.WEEKLY:
        kwargs["byweekday"] = [_WEEKDAY[d] for d in pattern.days_of_week]
    elif pattern.type is RecurrenceType.MONTHLY:
        kwargs["bymonthday"] = pattern.day_of_month or dtstart.day
    elif pattern.type is RecurrenceType.YEARLY:
        kwargs["bymonth"] = pattern.month or dtstart.month
        kwargs["bymonthday"] = pattern.day_of_month or dtstart.day
    if count is not None:
        kwargs["count"] = count
    elif pattern.end_date is not None:
        kwargs["until"] = until_local(pattern.end_date)
    return rrule.rrule(_FREQ[pattern.type], **kwargs)  # type: ignore[arg-type]


def local_starts(pattern: StoredPattern, dtstart: datetime) -> Iterator[datetime]:
    """Every local (naive) start of the series, DTSTART first, in order."""
    probe = _rule(pattern, dtstart, 1)
    first = next(iter(probe), None)
    if first == dtstart:
        yield from _rule(pattern, dtstart, pattern.occurrence_count)
        return
    if pattern.end_date is not None and dtstart > until_local(pattern.end_date):
        return
    yield dtstart
    remaining = None if pattern.occurrence_count is None else pattern.occurrence_count - 1
    if remaining == 0:
        return
    for value in _rule(pattern, dtstart, remaining):
        if value > dtstart:
            yield value


def _occurrence(local_start: datetime, wall_duration: timedelta, zone: str) -> Occurrence:
    start = to_utc(local_start, zone)
    return Occurrence(start, start, to_utc(local_start + wall_duration, zone))


def wall_duration(event: EventRecord) -> timedelta:
    return local_naive(event.end_time, event.time_zone) - local_naive(event.start_time, event.time_zone)


def occurrences(event: EventRecord, time_min: datetime, time_max: datetime, limit: int) -> list[Occurrence]:
    """Instances of a series meeting [time_min, time_max), exdates left out, at most `limit`."""
    return list(islice(iter_occurrences(event, time_min, time_max), limit))


def iter_occurrences(event: EventRecord, time_min: datetime, time_max: datetime) -> Iterator[Occurrence]:
    """The same, lazily and in start order: a caller merging many series computes only what it takes."""
    assert event.recurrence_pattern is not None
    zone, duration = event.time_zone, wall_duration(event)
    dtstart = local_naive(event.start_time, zone)
    # Local bounds, widened by the duration and a day so DST offsets can never drop an instance.
    low = local_naive(time_min, zone) - duration - timedelta(days=1)
    high = local_naive(time_max, zone) + timedelta(days=1)
    skipped = set(event.exdates)
    for local in _starts_from(event.recurrence_pattern, dtstart, low):
        if local >= high:
            return
        occ = _occurrence(local, duration, zone)
        if occ.start < time_max and occ.end > time_min and occ.original_start not in skipped:
            yield occ


def _starts_from(pattern: StoredPattern, dtstart: datetime, low: datetime) -> Iterator[datetime]:
    if pattern.occurrence_count is None and dtstart < low:
        # Skip straight to the window instead of walking years of instances (no COUNT to keep).
        rule = _rule(pattern, dtstart, None)
        value = rule.after(low, inc=True)
        while value is not None:
            yield value
            value = rule.after(value, inc=False)
        return
    for value in local_starts(pattern, dtstart):
        if value >= low:
            yield value


def series_range_end(event: EventRecord) -> datetime:
    """The end of a series' last instance, or SERIES_OPEN_END when it never ends (or ends very late)."""
    pattern = event.recurrence_pattern
    if pattern is None:
        return event.end_time
    if pattern.occurrence_count is None and pattern.end_date is None:
        return SERIES_OPEN_END
    last: datetime | None = None
    for n, local in enumerate(local_starts(pattern, local_naive(event.start_time, event.time_zone))):
        if n >= MAX_SERIES_SCAN:
            return SERIES_OPEN_END
        last = local
    if last is None:
        return event.end_time
    return _occurrence(last, wall_duration(event), event.time_zone).end


def is_occurrence(event: EventRecord, original_start: datetime) -> bool:
    """Whether `original_start` (UTC) is an instance of the series (cancelled ones included)."""
    found = occurrences(
        event.model_copy(update={"exdates": []}), original_start, original_start + timedelta(seconds=1), 1
    )
    return bool(found) and found[0].original_start == original_start


def split_patterns(event: EventRecord, split_at: datetime) -> tuple[StoredPattern | None, StoredPattern]:
    """'This and following': the old series' pattern ending before `split_at`, and the new series' pattern.

    The first is None when `split_at` is the first instance (nothing remains before it)."""
    pattern = event.recurrence_pattern
    assert pattern is not None
    zone = event.time_zone
    dtstart = local_naive(event.start_time, zone)
    split_local = local_naive(split_at, zone)
    if split_local <= dtstart:
        return None, pattern
    if pattern.occurrence_count is not None:
        done = sum(1 for _ in _take_until(local_starts(pattern, dtstart), split_local))
        head = pattern.model_copy(update={"occurrence_count": done})
        tail = pattern.model_copy(update={"occurrence_count": max(1, pattern.occurrence_count - done)})
        return head, tail
    previous = _rule(pattern, dtstart, None).before(split_local) or dtstart
    return pattern.model_copy(update={"end_date": previous.date()}), pattern


def _take_until(starts: Iterator[datetime], limit: datetime) -> Iterator[datetime]:
    for n, value in enumerate(starts):
        if value >= limit or n >= MAX_SERIES_SCAN:
            return
        yield value
