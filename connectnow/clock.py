"""Time and identifiers.

Timestamps are UTC and truncated to milliseconds, because MongoDB stores milliseconds: a value must read
back equal from either storage adapter.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return to_millis(datetime.now(UTC))


def to_millis(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def iso_millis(value: datetime) -> str:
    """The one stored text form: fixed-width UTC with milliseconds, so string order is time order.

    Not strftime("%Y"): it writes years below 1000 without padding, which would break the fixed width.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat pads the year to four digits and truncates to milliseconds; three times faster than an
    # f-string with strftime codes, and every stored document and event has timestamps.
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def new_id() -> str:
    """A 24-hex-digit id that sorts by creation time (48-bit milliseconds + 48 random bits)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"
