"""Recurring broadcast rules: RFC 5545 RRULE parts read with python-dateutil, and bounded before they run.

A rule is refused (BROADCAST_RECURRENCE_INVALID, `details.reason`) when it cannot be parsed, carries its own
DTSTART, repeats more often than the minimum interval (its FREQ x INTERVAL, and the gap between any two of
its first year's occurrences), has more occurrences in its first year than the bound, or never occurs in it.
Every walk over a rule is cut at a date (`until`), and the filters that could match nothing (so that dateutil
would walk to the year 9999) are refused or kept to yearly rules, whose longest walk is a few thousand steps;
callers run these walks off the event loop (`asyncio.to_thread`).

Occurrences are local times in the series' IANA zone: a weekly 09:00 stays 09:00 across DST changes. A local
time the clocks skip (spring forward) is sent at the same distance after the gap (02:30 becomes 03:30), as
PEP 495's fold=0 reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, YEARLY, rrule, rrulestr

from connectnow import errors
from connectnow.clock import to_millis
from connectnow.errors import AppError
from connectnow.services.broadcasts.timing import load_zone

SAMPLE_DAYS = 366  # the first year of a rule is checked
LOOKAHEAD_DAYS = 400  # the next occurrence is looked for this far ahead, never further
MAX_COUNT_YEARS = 10  # COUNT may cover at most this many years' worth of occurrences
_FREQ_SECONDS = {SECONDLY: 1, MINUTELY: 60, HOURLY: 3600, DAILY: 86400, WEEKLY: 7 * 86400,
                 MONTHLY: 28 * 86400, YEARLY: 365 * 86400}  # fmt: skip


@dataclass(frozen=True)
class RuleBounds:
    min_interval_seconds: float
    max_per_year: int


def _refuse(reason: str, message: str, **details: object) -> AppError:
    return AppError(errors.BROADCAST_RECURRENCE_INVALID, message, details={"reason": reason, **details})


# dateutil checks UNTIL only against occurrences it finds: a rule whose filters can never match (BYMONTH=2 with
# BYMONTHDAY=30, BYHOUR=25) would walk period by period to the year 9999 (tens of seconds for a daily rule).
# So values must be in range, and the filters that can empty a whole year are kept to YEARLY rules (whose walk
# to 9999 is a few thousand steps) or to combinations that always match within a year.
_RANGES = {"BYMONTH": (1, 12), "BYMONTHDAY": (-31, 31), "BYHOUR": (0, 23), "BYMINUTE": (0, 59),
           "BYSECOND": (0, 59), "INTERVAL": (1, 1000), "COUNT": (1, 100_000)}  # fmt: skip
_KNOWN = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", "BYSETPOS", "BYYEARDAY", "BYWEEKNO", *_RANGES}
_YEARLY_ONLY = ("BYSETPOS", "BYYEARDAY", "BYWEEKNO")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


def _check_parts(body: str) -> None:
    parts: dict[str, str] = {}
    for item in body.upper().split(";"):
        key, _, value = item.partition("=")
        if key not in _KNOWN or not value or key in parts:
            raise _refuse("unsupported", f"Unsupported or repeated rule part: {key[:20]}")
        parts[key] = value
    for key, (low, high) in _RANGES.items():
        for value in parts.get(key, "").split(",") if key in parts else []:
            if not value.lstrip("+-").isdigit() or not low <= int(value) <= high or (int(value) == 0 and low < 0):
                raise _refuse("unsupported", f"{key} must be within {low}..{high}")
    most = {"YEARLY": 53, "MONTHLY": 5}.get(parts.get("FREQ", ""), 0)  # BYDAY ordinals (1SU, -1FR)
    for value in parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []:
        found = _BYDAY.match(value)
        if found is None or (found.group(1) and not 0 < abs(int(found.group(1))) <= most):
            raise _refuse("unsupported", f"BYDAY {value[:10]} is not a weekday with an ordinal the FREQ allows")
    if parts.get("FREQ") != "YEARLY":
        if any(key in parts for key in _YEARLY_ONLY):
            raise _refuse("unsupported", f"{', '.join(_YEARLY_ONLY)} are for FREQ=YEARLY rules")
        if "BYMONTH" in parts and "BYMONTHDAY" in parts:
            raise _refuse("unsupported", "BYMONTH with BYMONTHDAY is for FREQ=YEARLY rules")


def parse(text: str, start_local: datetime) -> rrule:
    body = text.removeprefix("RRULE:")
    if "DTSTART" in body.upper() or ":" in body:
        raise _refuse("unsupported", "Give the rule's parts only (FREQ=...;...): startAt is its start")
    _check_parts(body)
    try:
        rule = rrulestr(body, dtstart=start_local)
    except (ValueError, TypeError) as exc:
        raise _refuse("unparseable", f"Not an RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise _refuse("unsupported", "One RRULE only")
    return rule


def _until(rule: rrule, limit: datetime) -> rrule:
    """The rule cut at `limit` (its own UNTIL when sooner); COUNT is applied by the caller."""
    own = getattr(rule, "_until", None)
    return rule.replace(count=None, until=min(own, limit) if own else limit)


def check(rule: rrule, start_local: datetime, bounds: RuleBounds) -> None:
    step = _FREQ_SECONDS[getattr(rule, "_freq")] * getattr(rule, "_interval")  # noqa: B009 (dateutil privates)
    if step < bounds.min_interval_seconds:
        raise _refuse("tooFrequent", "The rule repeats too often", minIntervalSeconds=bounds.min_interval_seconds)
    first_year = _until(rule, start_local + timedelta(days=SAMPLE_DAYS, seconds=-1))  # a year of days
    sample = list(islice(first_year, bounds.max_per_year + 1))
    count = getattr(rule, "_count", None)
    if count is not None:
        sample = sample[:count]
    if not sample:
        raise _refuse("noOccurrence", "The rule has no occurrence in its first year")
    if any((b - a).total_seconds() < bounds.min_interval_seconds for a, b in pairwise(sample)):
        raise _refuse("tooFrequent", "Two occurrences are too close", minIntervalSeconds=bounds.min_interval_seconds)
    if len(sample) > bounds.max_per_year:
        raise _refuse("tooMany", "The rule occurs too often in a year", maxPerYear=bounds.max_per_year)


def checked(text: str, start_local: datetime, bounds: RuleBounds) -> tuple[rrule, datetime | None]:
    """Parse and check a rule; answers it with its last occurrence (COUNT rules). Run off the loop."""
    rule = parse(text, start_local)
    try:
        check(rule, start_local, bounds)
        return rule, last_local(rule, bounds)
    except (IndexError, OverflowError, ValueError) as exc:  # dateutil's own limits, met while walking
        raise _refuse("unparseable", f"The rule cannot be evaluated: {type(exc).__name__}") from None


def last_local(rule: rrule, bounds: RuleBounds) -> datetime | None:
    """The last occurrence of a COUNT rule (None for others), so later walks need no counting from the start
    (a pause would otherwise throw the count off). COUNT is bounded to ten years' worth of occurrences."""
    count = getattr(rule, "_count", None)
    if count is None:
        return None
    if count > MAX_COUNT_YEARS * bounds.max_per_year:
        raise _refuse("tooMany", "COUNT is too large", maxCount=MAX_COUNT_YEARS * bounds.max_per_year)
    *_, last = islice(rule, count)
    return last


def next_local(rule: rrule, after: datetime | None, start_local: datetime, last: datetime | None) -> datetime | None:
    """The occurrence after `after` (the first when None), looking at most LOOKAHEAD_DAYS ahead and never past
    `last`; None when the rule has ended (UNTIL or COUNT passed, or nothing within the look-ahead)."""
    base = after or start_local
    limit = base + timedelta(days=LOOKAHEAD_DAYS)
    window = _until(rule, min(limit, last) if last else limit)
    found: datetime | None = window.after(base, inc=after is None)
    return found


def instant(local: datetime, zone_name: str) -> datetime:
    return to_millis(local.replace(tzinfo=load_zone(zone_name), fold=0).astimezone(UTC))


def local_now(zone_name: str, now: datetime) -> datetime:
    return now.astimezone(load_zone(zone_name)).replace(tzinfo=None)
