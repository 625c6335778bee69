"""Recurrence expansion against known calendars, DST in three zones, and the rule's bad inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar
from pydantic import ValidationError

from connectnow.services.calendar import recurrence
from connectnow.services.calendar.ics_codec import build_calendar
from models.calendar_events import EventRecord, RecurrencePattern

NY, BERLIN, SYDNEY = "America/New_York", "Europe/Berlin", "Australia/Sydney"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def series(start_local: datetime, zone: str, minutes: int = 60, **pattern: Any) -> EventRecord:
    start = start_local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    now = utc(2026, 1, 1)
    record = EventRecord(
        id="0" * 24,
        user_id="u",
        calendar_id="c",
        uid="s@test",
        title="Standup",
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        time_zone=zone,
        is_recurring=True,
        recurrence_pattern=RecurrencePattern.model_validate(pattern).model_dump(),
        range_end=start,
        created_at=now,
        updated_at=now,
        created_by="u",
        last_modified_by="u",
    )
    return record


def starts(event: EventRecord, lo: datetime, hi: datetime) -> list[datetime]:
    return [o.start for o in recurrence.occurrences(event, lo, hi, 1000)]


def test_weekly_new_york_keeps_local_time_across_both_dst_changes() -> None:
    # US DST 2026: starts Sunday March 8, ends Sunday November 1.
    event = series(datetime(2026, 3, 2, 9, 0), NY, type="weekly", daysOfWeek=["monday"], occurrenceCount=4)
    assert starts(event, utc(2026, 1, 1), utc(2027, 1, 1)) == [
        utc(2026, 3, 2, 14),
        utc(2026, 3, 9, 13),
        utc(2026, 3, 16, 13),
        utc(2026, 3, 23, 13),
    ]
    autumn = series(datetime(2026, 10, 26, 9, 0), NY, type="weekly", daysOfWeek=["monday"], occurrenceCount=2)
    assert starts(autumn, utc(2026, 1, 1), utc(2027, 1, 1)) == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)]


def test_daily_berlin_across_the_spring_change_and_the_gap() -> None:
    # EU summer time 2026 starts Sunday March 29 at 02:00 (local clocks jump to 03:00).
    event = series(datetime(2026, 3, 28, 8, 30), BERLIN, type="daily", endDate="2026-03-30")
    assert starts(event, utc(2026, 3, 1), utc(2026, 4, 1)) == [
        utc(2026, 3, 28, 7, 30),
        utc(2026, 3, 29, 6, 30),
        utc(2026, 3, 30, 6, 30),
    ]
    # 02:30 does not exist on March 29: RFC 5545 takes the offset from before the gap (03:30 CEST).
    gap = series(datetime(2026, 3, 28, 2, 30), BERLIN, type="daily", occurrenceCount=3)
    assert starts(gap, utc(2026, 3, 1), utc(2026, 4, 1)) == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30),
    ]


def test_monthly_sydney_across_april_dst_end() -> None:
    # Sydney DST ends Sunday April 5 2026 (UTC+11 to UTC+10).
    event = series(datetime(2026, 3, 15, 10, 0), SYDNEY, type="monthly", occurrenceCount=3)
    assert starts(event, utc(2026, 1, 1), utc(2027, 1, 1)) == [
        utc(2026, 3, 14, 23),
        utc(2026, 4, 15, 0),
        utc(2026, 5, 15, 0),
    ]


def test_end_date_is_inclusive_and_the_31st_skips_short_months() -> None:
    weekly = series(datetime(2026, 6, 1, 9), "UTC", type="weekly", daysOfWeek=["monday"], endDate="2026-06-15")
    assert starts(weekly, utc(2026, 1, 1), utc(2027, 1, 1)) == [
        utc(2026, 6, 1, 9),
        utc(2026, 6, 8, 9),
        utc(2026, 6, 15, 9),
    ]
    monthly = series(datetime(2026, 1, 31, 9), "UTC", type="monthly", occurrenceCount=4)
    assert [d.date() for d in starts(monthly, utc(2026, 1, 1), utc(2027, 1, 1))] == [
        date(2026, 1, 31),
        date(2026, 3, 31),
        date(2026, 5, 31),
        date(2026, 7, 31),
    ]


def test_dtstart_not_matching_the_rule_is_the_first_instance_and_counts() -> None:
    # Starts on a Tuesday, rule says Mondays: RFC 5545 keeps DTSTART and counts it; dateutil alone would not.
    event = series(datetime(2026, 6, 2, 9), "UTC", type="weekly", daysOfWeek=["monday"], occurrenceCount=3)
    assert starts(event, utc(2026, 1, 1), utc(2027, 1, 1)) == [
        utc(2026, 6, 2, 9),
        utc(2026, 6, 8, 9),
        utc(2026, 6, 15, 9),
    ]


def test_yearly_february_29_occurs_only_in_leap_years() -> None:
    event = series(datetime(2028, 2, 29, 12), "UTC", type="yearly", occurrenceCount=2)
    assert starts(event, utc(2028, 1, 1), utc(2034, 1, 1)) == [utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)]


def test_interval_exdates_and_window_edges() -> None:
    event = series(datetime(2026, 1, 1, 9), "UTC", type="daily", interval=3)
    event = event.model_copy(update={"exdates": [utc(2026, 1, 4, 9)]})
    assert starts(event, utc(2026, 1, 1), utc(2026, 1, 11)) == [
        utc(2026, 1, 1, 9),
        utc(2026, 1, 7, 9),
        utc(2026, 1, 10, 9),
    ]
    # An instance that started before the window but is still running is in it.
    assert starts(event, utc(2026, 1, 7, 9, 30), utc(2026, 1, 7, 11)) == [utc(2026, 1, 7, 9)]
    # Far in the future an open series is reached without walking every instance.
    assert starts(event, utc(2126, 1, 1), utc(2126, 1, 4)) != []


def test_expansion_agrees_with_recurring_ical_events() -> None:
    """An independent implementation expanding our exported ICS finds the same instants."""
    cases = [
        series(datetime(2026, 3, 2, 9), NY, type="weekly", daysOfWeek=["monday", "thursday"], endDate="2026-11-30"),
        series(datetime(2026, 3, 20, 18), BERLIN, type="daily", interval=2, occurrenceCount=40),
        series(datetime(2026, 1, 10, 7, 45), SYDNEY, type="monthly", dayOfMonth=10, endDate="2027-01-10"),
        series(datetime(2026, 10, 25, 1, 30), BERLIN, type="yearly", occurrenceCount=4),
    ]
    for event in cases:
        ics = build_calendar("t", [event.model_copy(update={"exdates": []})])
        theirs = recurring_ical_events.of(Calendar.from_ical(ics)).between(datetime(2025, 1, 1), datetime(2031, 1, 1))
        expected = sorted(e.decoded("DTSTART").astimezone(UTC) for e in theirs)
        assert starts(event, utc(2025, 1, 1), utc(2031, 1, 1)) == expected, event.recurrence_pattern


def test_series_range_end_and_split_patterns() -> None:
    counted = series(datetime(2026, 6, 1, 9), "UTC", type="daily", occurrenceCount=10)
    assert recurrence.series_range_end(counted) == utc(2026, 6, 10, 10)
    assert (
        recurrence.series_range_end(series(datetime(2026, 6, 1, 9), "UTC", type="daily")) == recurrence.SERIES_OPEN_END
    )
    head, tail = recurrence.split_patterns(counted, utc(2026, 6, 4, 9))
    assert head is not None and (head.occurrence_count, tail.occurrence_count) == (3, 7)
    until = series(datetime(2026, 6, 1, 9), "UTC", type="weekly", daysOfWeek=["monday"], endDate="2026-12-31")
    head, tail = recurrence.split_patterns(until, utc(2026, 6, 15, 9))
    assert head is not None and head.end_date == date(2026, 6, 8) and tail.end_date == date(2026, 12, 31)
    assert recurrence.split_patterns(until, until.start_time)[0] is None


@pytest.mark.parametrize(
    "pattern",
    [
        {"type": "daily", "occurrenceCount": 3, "endDate": "2026-12-01"},  # both count and end date
        {"type": "daily", "interval": 0},
        {"type": "yearly", "month": 2, "dayOfMonth": 30},  # February 30
        {"type": "yearly", "month": 4, "dayOfMonth": 31},
        {"type": "monthly", "dayOfMonth": 32},
        {"type": "weekly"},  # a weekly rule with no days
        {"type": "weekly", "daysOfWeek": []},
        {"type": "weekly", "daysOfWeek": ["funday"]},
        {"type": "daily", "daysOfWeek": ["monday"]},
        {"type": "hourly"},
        {"type": "daily", "occurrenceCount": 100_000},
        {"type": "daily", "interval": {"$ne": None}},
        {"type": "daily", "extra": 1},
    ],
)
def test_bad_rules_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RecurrencePattern.model_validate(pattern)
