"""Time-zone names clients may use: exactly the IANA keys of the system's tz database.

`available_timezones()` also lists files that are not zones a client should name: `localtime` (a link to
this server's own zone), `posixrules` and `Factory`. Names are matched exactly: no trimming, so " UTC" is
refused rather than silently read as "UTC", and no paths ("../../etc/passwd") ever reach ZoneInfo.
"""

from __future__ import annotations

from zoneinfo import available_timezones

NOT_CLIENT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
KNOWN_ZONES = frozenset(available_timezones() - NOT_CLIENT_ZONES) | {"UTC"}


def is_known_zone(name: str) -> bool:
    return name in KNOWN_ZONES
