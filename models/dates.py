"""The range of dates and times ConnectNow accepts, and the one form in which it stores them.

Python's `datetime` holds years 1 to 9999, and the stored form (`YYYY-MM-DDTHH:MM:SS.mmmZ`, always four
year digits, so string order is time order) holds exactly those. Clients may send only 0002-01-01 to
9998-12-31 (UTC): a year of headroom on each side, so derived times (an offset converted to UTC, reminders
before a start, retention after an end, recurrence windows) never step outside what can be held.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
RANGE_TEXT = "0002-01-01T00:00:00Z to 9998-12-31T23:59:59.999Z"


def check_datetime(value: datetime) -> datetime:
    """A client's datetime, in UTC (naive means UTC), or ValueError when it lies outside the range."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"dates and times must lie from {RANGE_TEXT}") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"dates and times must lie from {RANGE_TEXT}")
    return value


def check_date(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError(f"dates must lie between {EARLIEST.date()} and {LATEST.date()}")
    return value


_NO_DATES = frozenset({str, int, bool, float, type(None)})


def check_any(value: Any) -> Any:
    """Every datetime or date inside a validated field value (containers included) lies in the range.
    Walked iteratively: a free-form field may nest deeply."""
    if type(value) in _NO_DATES:  # most fields: nothing to walk
        return value
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, datetime):
            check_datetime(item)
        elif isinstance(item, date):
            check_date(item)
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def iso_text_only(value: Any) -> Any:
    # pydantic reads "0.5" as a Unix time; query and path dates are documented as ISO 8601 date-times.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2030-01-31T09:00:00Z")
    return value


def utc_in_range(value: datetime) -> datetime:
    """A client's datetime in the range, converted to UTC (naive means UTC)."""
    check_datetime(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# For query and path parameters and other inputs outside an InputModel: ISO text only, in the range, in UTC.
ClientDateTime = Annotated[datetime, BeforeValidator(iso_text_only), AfterValidator(utc_in_range)]
