"""Recurring broadcast rules: parsed by python-dateutil, refused with a stable reason when unbounded."""

from __future__ import annotations

from datetime import datetime

import pytest

from connectnow.errors import AppError
from connectnow.services.broadcasts import recurrence

START = datetime(2027, 3, 7, 9, 0)  # a Sunday, local time
PRODUCTION = recurrence.RuleBounds(min_interval_seconds=3600, max_per_year=366)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=MINUTELY;INTERVAL=30;COUNT=3", "tooFrequent"),  # the step itself
        ("FREQ=DAILY;BYHOUR=9;BYMINUTE=0,30", "tooFrequent"),  # a daily rule firing twice within the hour
        ("FREQ=HOURLY", "tooMany"),  # 8784 a year
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "noOccurrence"),
        ("FREQ=DAILY;UNTIL=20270301T000000", "noOccurrence"),  # ends before it starts
        ("FREQ=FORTNIGHTLY", "unparseable"),
        ("DTSTART=20270101T000000;FREQ=DAILY", "unsupported"),
        # Filters that could never match would make dateutil walk day by day to the year 9999:
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "unsupported"),
        ("FREQ=MINUTELY;INTERVAL=60;BYMONTH=13", "unsupported"),
        ("FREQ=DAILY;BYHOUR=25", "unsupported"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=7", "unsupported"),
        ("FREQ=MONTHLY;BYDAY=+9MO", "unsupported"),
        ("FREQ=WEEKLY;BYDAY=1MO", "unsupported"),
        ("FREQ=DAILY;INTERVAL=99999999", "unsupported"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "noOccurrence"),  # yearly: a short walk, then refused
    ],
)
def test_unbounded_or_broken_rules_are_refused(rule: str, reason: str) -> None:
    with pytest.raises(AppError) as refused:
        recurrence.checked(rule, START, PRODUCTION)
    assert refused.value.code == "BROADCAST_RECURRENCE_INVALID"
    assert refused.value.details["reason"] == reason


def test_weekly_rule_keeps_local_time_across_dst_and_counts() -> None:
    rule = recurrence.parse("RRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=3", START)
    recurrence.check(rule, START, PRODUCTION)
    last = recurrence.last_local(rule, PRODUCTION)
    first = recurrence.next_local(rule, None, START, last)
    second = recurrence.next_local(rule, first, START, last)
    third = recurrence.next_local(rule, second, START, last)
    assert [first, second, third] == [START, datetime(2027, 3, 14, 9), datetime(2027, 3, 21, 9)] and third == last
    assert recurrence.next_local(rule, third, START, last) is None  # COUNT spent
    # 2027-03-14 is the US spring-forward day: 09:00 local is 13:00 UTC after it, 14:00 UTC before.
    zone = "America/New_York"
    assert recurrence.instant(first, zone).hour == 14 and recurrence.instant(second, zone).hour == 13


def test_a_count_beyond_ten_years_is_refused() -> None:
    rule = recurrence.parse("FREQ=DAILY;COUNT=4000", START)
    recurrence.check(rule, START, PRODUCTION)
    with pytest.raises(AppError) as refused:
        recurrence.last_local(rule, PRODUCTION)
    assert refused.value.details["reason"] == "tooMany"


def test_a_local_time_the_clocks_skip_is_sent_after_the_gap() -> None:
    skipped = datetime(2027, 3, 28, 2, 30)  # Europe/Paris springs from 02:00 to 03:00
    assert recurrence.instant(skipped, "Europe/Paris").isoformat().startswith("2027-03-28T01:30")  # 03:30 CEST
