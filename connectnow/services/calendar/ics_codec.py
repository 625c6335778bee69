"""iCalendar (RFC 5545) in and out, with icalendar. Parsing is bounded before the parser sees the text.

Exported: UID, summary, description, times (TZID when not UTC; VALUE=DATE for all-day), location,
categories, RRULE, EXDATE, RECURRENCE-ID exceptions, attendees with PARTSTAT, sequence, timestamps.
Internal-only fields (internal notes, budget, staff, client contact) never leave in a feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, vCalAddress
from pydantic import TypeAdapter

from connectnow import errors
from connectnow.clock import to_millis
from connectnow.errors import AppError
from connectnow.services.calendar import recurrence
from models.base import Text
from models.calendar_events import WEEKDAYS, EventFields, EventRecord, RecurrenceType, StoredPattern
from models.dates import check_datetime
from models.zones import KNOWN_ZONES

PRODID = "-//ConnectNow//Calendar//EN"
MAX_DEPTH = 4  # VCALENDAR > VEVENT > VALARM, or VCALENDAR > VTIMEZONE > STANDARD: deeper is hostile
MAX_COMPONENTS = 20_000
MAX_LINE_CHARS = 20_000  # one unfolded content line
MAX_TIME_ZONES = 50  # VTIMEZONE components in one file
# A VTIMEZONE rule is walked occurrence by occurrence (dateutil's tzical) on every conversion, so it must be
# a yearly rule of a few transitions a year: real zones have one or two.
TZ_RULE_WINDOW_YEARS = 10
MAX_TZ_TRANSITIONS_PER_YEAR = 4
MAX_TZ_RDATES = 400  # explicit transitions listed by one STANDARD/DAYLIGHT block
_BYDAY = {d[:2].upper(): d for d in WEEKDAYS}
_DAY_CODE = {d: d[:2].upper() for d in WEEKDAYS}
_SUPPORTED_RULE_PARTS = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST"}
_PARTSTAT = {"none": "NEEDS-ACTION", "accepted": "ACCEPTED", "declined": "DECLINED", "tentative": "TENTATIVE"}
_PARTSTAT_IN = {v: k for k, v in _PARTSTAT.items()}


# --- out -------------------------------------------------------------------------------------------------
def _when(value: datetime, zone: str, all_day: bool) -> date | datetime:
    if all_day:
        return recurrence.local_naive(value, zone).date()
    if zone == "UTC":
        return value.astimezone(UTC)
    return value.astimezone(ZoneInfo(zone))


def _rrule(pattern: StoredPattern, zone: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"FREQ": pattern.type.value.upper()}
    if pattern.interval != 1:
        rule["INTERVAL"] = pattern.interval
    if pattern.days_of_week:
        rule["BYDAY"] = [_DAY_CODE[d.value] for d in pattern.days_of_week]
    if pattern.day_of_month is not None:
        rule["BYMONTHDAY"] = pattern.day_of_month
    if pattern.month is not None:
        rule["BYMONTH"] = pattern.month
    if pattern.occurrence_count is not None:
        rule["COUNT"] = pattern.occurrence_count
    elif pattern.end_date is not None:
        # UNTIL must be UTC when DTSTART has a TZID (RFC 5545 3.3.10); it is inclusive.
        rule["UNTIL"] = recurrence.to_utc(recurrence.until_local(pattern.end_date), zone)
    return rule


def vevent(event: EventRecord, *, internal: bool = False) -> Event:
    comp = Event()
    comp.add("uid", event.uid)
    comp.add("dtstamp", event.updated_at)
    comp.add("created", event.created_at)
    comp.add("last-modified", event.updated_at)
    comp.add("sequence", event.sequence)
    comp.add("summary", event.title)
    comp.add("dtstart", _when(event.start_time, event.time_zone, event.all_day))
    comp.add("dtend", _when(event.end_time, event.time_zone, event.all_day))
    if event.all_day and event.time_zone != "UTC":
        comp.add("x-connectnow-tzid", event.time_zone)
    for name, value in (("description", event.description), ("location", event.location)):
        if value:
            comp.add(name, value)
    if event.category:
        comp.add("categories", [event.category])
    if event.recurrence_pattern is not None:
        comp.add("rrule", _rrule(event.recurrence_pattern, event.time_zone))
        if event.exdates:
            comp.add("exdate", [_when(d, event.time_zone, event.all_day) for d in sorted(event.exdates)])
    if event.original_start_time is not None:
        comp.add("recurrence-id", _when(event.original_start_time, event.time_zone, event.all_day))
    for attendee in event.attendees:
        address = vCalAddress(f"mailto:{attendee.email}")
        address.params["PARTSTAT"] = _PARTSTAT[attendee.response_status.value]
        if attendee.name:
            address.params["CN"] = attendee.name
        comp.add("organizer" if attendee.is_organizer else "attendee", address)
    if event.priority_level is not None:
        comp.add("x-connectnow-priority", event.priority_level.value)
    if internal:
        for name, value in (
            ("x-connectnow-internal-notes", event.internal_notes),
            ("x-connectnow-client-contact", event.client_contact),
            ("x-connectnow-internal-category", event.internal_category),
            ("x-connectnow-budget", None if event.budget_allocated is None else str(event.budget_allocated)),
        ):
            if value:
                comp.add(name, value)
    return comp


def calendar_header(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def build_calendar(name: str, events: list[EventRecord]) -> bytes:
    cal = calendar_header(name)
    for event in events:
        cal.add_component(vevent(event))
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


# --- in --------------------------------------------------------------------------------------------------
def decode_bounded(data: bytes, max_bytes: int) -> str:
    """Refuse what should never reach the parser: too big, not UTF-8, too deep, too many components."""
    if len(data) > max_bytes:
        raise AppError(errors.ICS_TOO_LARGE, f"At most {max_bytes} bytes", details={"maxBytes": max_bytes})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AppError(errors.ICS_ENCODING, f"Not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise AppError(errors.ICS_ENCODING, "The file contains NUL characters")
    depth = components = 0
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")
    lines = unfolded.splitlines()
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        raise AppError(errors.ICS_MALFORMED, "The file does not start with BEGIN:VCALENDAR")
    for line in lines:
        if len(line) > MAX_LINE_CHARS:
            raise AppError(errors.ICS_TOO_COMPLEX, f"A line is longer than {MAX_LINE_CHARS} characters")
        upper = line[:6].upper()
        if upper == "BEGIN:":
            depth += 1
            components += 1
            if depth > MAX_DEPTH or components > MAX_COMPONENTS:
                raise AppError(errors.ICS_TOO_COMPLEX, details={"maxDepth": MAX_DEPTH, "maxComponents": MAX_COMPONENTS})
        elif line[:4].upper() == "END:":
            depth -= 1
            if depth < 0:
                raise AppError(errors.ICS_MALFORMED, "END without BEGIN")
    if depth != 0:
        raise AppError(errors.ICS_MALFORMED, "Unbalanced BEGIN/END")
    return text


@dataclass
class ParsedEvent:
    uid: str
    values: dict[str, Any]  # EventRecord fields (python names)
    recurrence_id: datetime | None = None
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)


def parse_calendar(text: str) -> tuple[list[ParsedEvent], list[tuple[str | None, str]]]:
    """VEVENTs as EventRecord fields, and (uid, message) for each one that could not be read."""
    try:
        cal = Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AppError(errors.ICS_MALFORMED, f"The file cannot be parsed: {str(exc)[:200]}") from None
    check_time_zone_rules(cal)
    default_zone = str(cal.get("X-WR-TIMEZONE", "UTC"))
    default_zone = default_zone if default_zone in KNOWN_ZONES else "UTC"
    parsed: list[ParsedEvent] = []
    failed: list[tuple[str | None, str]] = []
    for comp in cal.walk("VEVENT"):
        uid = str(comp.get("UID", "")).strip() or None
        try:
            parsed.append(_event(comp, uid, default_zone))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            failed.append((uid, str(exc)[:300] or type(exc).__name__))
    return parsed, failed


def _too_complex(message: str) -> AppError:
    return AppError(errors.ICS_TOO_COMPLEX, message, details={"maxTimeZones": MAX_TIME_ZONES,
                    "maxTransitionsPerYear": MAX_TZ_TRANSITIONS_PER_YEAR})  # fmt: skip


def check_time_zone_rules(cal: Calendar) -> None:
    """Refuse VTIMEZONE rules whose expansion is unbounded or dense (FREQ=SECONDLY, no COUNT, ...).

    Each rule is expanded here over its first TZ_RULE_WINDOW_YEARS years only (an UNTIL is imposed, so even
    a rule that never fires costs ten yearly steps), and must be YEARLY with at most
    MAX_TZ_TRANSITIONS_PER_YEAR transitions a year.
    """
    zones = cal.walk("VTIMEZONE")
    if len(zones) > MAX_TIME_ZONES:
        raise _too_complex(f"At most {MAX_TIME_ZONES} VTIMEZONE components")
    for zone in zones:
        for rule_comp in zone.subcomponents:
            rdates = rule_comp.get("RDATE")
            listed = sum(len(r.dts) for r in (rdates if isinstance(rdates, list) else [rdates] if rdates else []))
            if listed > MAX_TZ_RDATES:  # tzical scans them on every conversion, like rule occurrences
                raise _too_complex(f"A time-zone rule lists more than {MAX_TZ_RDATES} RDATE transitions")
            if "RRULE" not in rule_comp:
                continue
            rule: Any = rule_comp["RRULE"]
            if [str(f).upper() for f in rule.get("FREQ", [])] != ["YEARLY"]:
                raise _too_complex("Time-zone rules must be FREQ=YEARLY")
            start = rule_comp.decoded("DTSTART")
            if not isinstance(start, datetime):
                raise ValueError("a time-zone rule needs a DTSTART date-time")
            start = start.replace(tzinfo=None)
            window_end = start.replace(year=min(start.year + TZ_RULE_WINDOW_YEARS, 9999))
            try:
                parsed: Any = rrulestr(rule.to_ical().decode(), dtstart=start)
                expanded = parsed.replace(until=window_end, count=None)
                seen = len(list(islice(expanded, MAX_TZ_TRANSITIONS_PER_YEAR * TZ_RULE_WINDOW_YEARS + 1)))
            except (ValueError, TypeError, OverflowError) as exc:
                raise AppError(errors.ICS_MALFORMED, f"A time-zone rule cannot be read: {str(exc)[:200]}") from None
            if seen > MAX_TZ_TRANSITIONS_PER_YEAR * TZ_RULE_WINDOW_YEARS:
                raise _too_complex(f"A time-zone rule has more than {MAX_TZ_TRANSITIONS_PER_YEAR} transitions a year")
            if seen == 0 and "COUNT" not in rule and "UNTIL" not in rule:
                raise _too_complex(f"A time-zone rule has no transition in its first {TZ_RULE_WINDOW_YEARS} years")


def _zone_of(value: Any, fallback: str) -> str:
    tz = getattr(value, "tzinfo", None)
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key in KNOWN_ZONES:
        return key
    return fallback if tz is None else "UTC"


def _instant(value: date | datetime, zone: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone))
        return to_millis(value.astimezone(UTC))
    return recurrence.to_utc(datetime(value.year, value.month, value.day), zone)


def _event(comp: Any, uid: str | None, default_zone: str) -> ParsedEvent:
    if uid is None or len(uid) > 255:
        raise ValueError("a VEVENT needs a UID of at most 255 characters")
    start_raw = comp.decoded("DTSTART")
    all_day = not isinstance(start_raw, datetime)
    zone = str(comp.get("X-CONNECTNOW-TZID", "UTC")) if all_day else _zone_of(start_raw, default_zone)
    zone = zone if zone in KNOWN_ZONES else "UTC"
    start = _instant(start_raw, zone)
    if "DTEND" in comp:
        end = _instant(comp.decoded("DTEND"), zone)
    elif "DURATION" in comp:
        end = start + comp.decoded("DURATION")
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    values: dict[str, Any] = {
        "title": str(comp.get("SUMMARY", "")).strip()[:300] or "(no title)",
        "description": _text(comp, "DESCRIPTION", 8000),
        "location": _text(comp, "LOCATION", 300),
        "start_time": start,
        "end_time": end,
        "time_zone": zone,
        "all_day": all_day,
        "attendees": _attendees(comp),
        "sequence": int(comp.get("SEQUENCE", 0)),
    }
    categories = comp.get("CATEGORIES")
    if categories is not None:
        cats = categories if isinstance(categories, list) else [categories]
        names = [str(c) for item in cats for c in getattr(item, "cats", [item])]
        values["category"] = names[0][:100] if names else None
    priority = str(comp.get("X-CONNECTNOW-PRIORITY", "")).lower()
    if priority in ("low", "medium", "high", "critical"):
        values["priority_level"] = priority
    if "RRULE" in comp:
        values["recurrence_pattern"] = _pattern(comp["RRULE"], zone)
        values["exdates"] = _exdates(comp, zone)
    recurrence_id = _instant(comp.decoded("RECURRENCE-ID"), zone) if "RECURRENCE-ID" in comp else None
    _apply_rest_rules(values, recurrence_id)
    cancelled = str(comp.get("STATUS", "")).upper() == "CANCELLED"
    return ParsedEvent(uid=uid, values=values, recurrence_id=recurrence_id, cancelled=cancelled)


_ATTENDEE_NAMES = TypeAdapter(list[Annotated[str, Text(0, 200)]])


def _apply_rest_rules(values: dict[str, Any], recurrence_id: datetime | None) -> None:
    """What REST refuses, an import refuses too: text with control characters, bidirectional overrides or lone
    surrogates, and times outside the accepted range. Raises ValueError (pydantic's ValidationError)."""
    EventFields.model_validate(
        {"title": values["title"], "description": values["description"], "location": values["location"],
         "category": values.get("category"), "startTime": values["start_time"], "endTime": values["end_time"]}
    )  # fmt: skip
    _ATTENDEE_NAMES.validate_python([a["name"] for a in values["attendees"] if a["name"]])
    for moment in [*values.get("exdates", []), *([recurrence_id] if recurrence_id else [])]:
        check_datetime(moment)


def _text(comp: Any, name: str, limit: int) -> str | None:
    value = comp.get(name)
    return str(value)[:limit] if value else None


def _attendees(comp: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, organizer in (("ORGANIZER", True), ("ATTENDEE", False)):
        raw = comp.get(name)
        for item in raw if isinstance(raw, list) else ([raw] if raw is not None else []):
            email = str(item).removeprefix("mailto:").removeprefix("MAILTO:").strip()
            if "@" not in email or len(out) >= 500:
                continue
            status = _PARTSTAT_IN.get(str(item.params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "none")
            cn = item.params.get("CN")
            out.append({"email": email[:254], "name": str(cn)[:200] if cn else None,
                        "response_status": status, "is_organizer": organizer})  # fmt: skip
    return out


def _pattern(rule: Any, zone: str) -> dict[str, Any]:
    unsupported = set(rule) - _SUPPORTED_RULE_PARTS
    if unsupported:
        raise ValueError(f"unsupported RRULE parts: {sorted(unsupported)}")
    freq = str(rule["FREQ"][0]).lower()
    if freq not in {t.value for t in RecurrenceType}:
        raise ValueError(f"unsupported RRULE frequency {freq.upper()}")
    pattern: dict[str, Any] = {"type": freq, "interval": int(rule.get("INTERVAL", [1])[0])}
    days = [str(d).upper() for d in rule.get("BYDAY", [])]
    if any(d not in _BYDAY for d in days):
        raise ValueError("BYDAY with ordinals (e.g. 2MO) is not supported")
    if days:
        pattern["days_of_week"] = [_BYDAY[d] for d in days]
    for part, name in (("BYMONTHDAY", "day_of_month"), ("BYMONTH", "month")):
        values = rule.get(part, [])
        if len(values) > 1:
            raise ValueError(f"{part} with several values is not supported")
        if values:
            pattern[name] = int(values[0])
    if "COUNT" in rule:
        pattern["occurrence_count"] = int(rule["COUNT"][0])
    if "UNTIL" in rule:
        until = rule["UNTIL"][0]
        pattern["end_date"] = (
            recurrence.local_naive(_instant(until, zone), zone).date() if isinstance(until, datetime) else until
        )
    return pattern


def _exdates(comp: Any, zone: str) -> list[datetime]:
    raw = comp.get("EXDATE")
    out: list[datetime] = []
    for item in raw if isinstance(raw, list) else ([raw] if raw is not None else []):
        out += [_instant(d.dt, zone) for d in item.dts]
    return out
