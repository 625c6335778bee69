"""When a scheduled message is due: offsets, IANA time zones, DST gaps, the past and the horizon.

A time with a UTC offset is an instant. A time without one needs an IANA `timeZone`; a local time that
falls in a DST gap (e.g. 02:30 on the spring-forward night in Europe/Paris) does not exist and is refused,
saying so. A local time that occurs twice (the autumn overlap) means its first occurrence (fold=0), as
RFC 5545 prescribes for calendar times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectnow import errors
from connectnow.clock import to_millis
from connectnow.errors import AppError
from models.zones import is_known_zone

MAX_ZONE_NAME = 64


def load_zone(name: str) -> ZoneInfo:
    # ZoneInfo also accepts file paths relative to the tz database: refuse anything but a plain IANA name.
    if not is_known_zone(name):  # no paths, no "localtime", no " UTC"
        raise AppError(errors.TIMEZONE_UNKNOWN, details={"timeZone": name[:MAX_ZONE_NAME]})
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise AppError(errors.TIMEZONE_UNKNOWN, details={"timeZone": name}) from None


def resolve_instant(when: datetime, time_zone: str | None) -> datetime:
    """The UTC instant meant by `when` (+ `time_zone`), or a refusal that says what is wrong."""
    zone = load_zone(time_zone) if time_zone else None
    if when.tzinfo is not None and when.utcoffset() is not None:
        return to_millis(when.astimezone(UTC))
    if zone is None:
        raise AppError(errors.SCHEDULE_TIME_ZONE_REQUIRED, details={"scheduledFor": when.isoformat()})
    local = when.replace(tzinfo=zone, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != when:
        raise AppError(
            errors.SCHEDULE_NONEXISTENT_TIME,
            f"{when.isoformat()} does not exist in {time_zone}: the clocks skip it (daylight saving time)",
            details={"scheduledFor": when.isoformat(), "timeZone": time_zone},
        )
    return to_millis(instant)


def check_window(instant: datetime, now: datetime, horizon: timedelta) -> None:
    if instant <= now:
        raise AppError(errors.SCHEDULE_IN_PAST, details={"scheduledFor": instant.isoformat(), "now": now.isoformat()})
    if instant > now + horizon:
        raise AppError(
            errors.SCHEDULE_BEYOND_HORIZON,
            f"Messages may be scheduled at most {horizon.days} days ahead",
            details={"latest": (now + horizon).isoformat(), "horizonDays": horizon.days},
        )
