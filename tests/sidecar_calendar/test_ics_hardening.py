"""Issue 14: ICS import is bounded (time-zone rules), all-or-nothing (with a sync log either way), and applies
the same text and date rules as REST."""

from __future__ import annotations

from typing import Any

import pytest

from connectnow.errors import AppError
from connectnow.store.port import StoreError
from tests.sidecar_calendar.conftest import Cal

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\n"
TAIL = "END:VCALENDAR\r\n"


def vevent(uid: str, title: str = "Meeting", start: str = "20260601T100000Z", end: str = "20260601T110000Z",
           extra: str = "") -> str:  # fmt: skip
    start, end = (v if v.startswith(";") else f":{v}" for v in (start, end))  # ";TZID=...:..." or a UTC time
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART{start}\r\nDTEND{end}\r\n"
        f"SUMMARY:{title}\r\n{extra}END:VEVENT\r\n"
    )


def vtimezone(tzid: str, rule: str, start: str = "20260101T000000") -> str:
    return (
        f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\n"
        f"BEGIN:STANDARD\r\nDTSTART:{start}\r\nRRULE:{rule}\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
        f"BEGIN:DAYLIGHT\r\nDTSTART:{start}\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
        "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    )


async def refused(cal: Cal, who: Any, cid: str, body: str) -> AppError:
    with pytest.raises(AppError) as info:
        await cal.suite.ics.import_ics(who, cid, body.encode())
    return info.value


@pytest.mark.parametrize(
    "rule",
    ["FREQ=SECONDLY", "FREQ=MINUTELY;INTERVAL=7", "FREQ=DAILY", "FREQ=YEARLY;BYMONTH=1,2,3,4,5,6;BYMONTHDAY=1,15"],
)
async def test_dense_or_unbounded_time_zone_rules_are_refused(cal: Cal, rule: str) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    start = ";TZID=Evil/Zone:20260103T100000"
    body = HEAD + vtimezone("Evil/Zone", rule) + vevent("e@test", start=start, end=start) + TAIL
    error = await refused(cal, alice, cid, body)
    assert error.code == "ICS_TOO_COMPLEX"
    assert await cal.count("calendar_events") == 0
    [log] = await cal.suite.ics.logs(alice, cid, 10)
    assert log.status == "error" and log.errors[0].error_code == "ICS_TOO_COMPLEX"


async def test_a_custom_yearly_time_zone_still_imports(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    start, end = ";TZID=Custom Standard Time:20260615T100000", ";TZID=Custom Standard Time:20260615T110000"
    rule = "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"
    body = HEAD + vtimezone("Custom Standard Time", rule, "16010101T030000") + vevent("c@test", start=start, end=end)
    log = await cal.suite.ics.import_ics(alice, cid, (body + TAIL).encode())
    assert (log.status, log.events_created) == ("success", 1)
    [event] = await cal.suite.events.events.find({"calendarId": cid})
    assert event.start_time.isoformat() == "2026-06-15T08:00:00+00:00"  # +0200 in summer, per the file's rules


@pytest.mark.parametrize(
    ("title", "extra"),
    [("Pay\u202eexe.pdf", ""), ("Ring\x07bell", ""), ("Fine", "DESCRIPTION:bad\x1bescape\r\n"),
     ("Fine", "LOCATION:Room \u2066x\r\n"), ("Fine", "ATTENDEE;CN=Eve\u202e:mailto:eve@example.com\r\n")],
)  # fmt: skip
async def test_imported_text_follows_the_rest_text_rules(cal: Cal, title: str, extra: str) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    body = HEAD + vevent("ok@test") + vevent("text@test", title=title, extra=extra) + TAIL
    error = await refused(cal, alice, cid, body)
    assert error.code == "ICS_IMPORT_REFUSED"
    assert [e["eventId"] for e in error.details["errors"]] == ["text@test"]
    assert await cal.count("calendar_events") == 0


async def test_year_one_is_refused_and_year_999_round_trips(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    error = await refused(
        cal, alice, cid, HEAD + vevent("y1@test", start="00010101T000000Z", end="00010101T010000Z") + TAIL
    )
    assert error.code == "ICS_IMPORT_REFUSED"
    body = HEAD + vevent("y999@test", start="09990601T100000Z", end="09990601T110000Z") + TAIL
    assert (await cal.suite.ics.import_ics(alice, cid, body.encode())).events_created == 1
    [event] = await cal.suite.events.events.find({"calendarId": cid})
    assert event.start_time.year == 999
    exported = await cal.suite.ics.export(alice, cid)
    assert b"DTSTART:09990601T100000Z" in exported
    await cal.suite.events.remove(event)
    assert await cal.count("calendar_events") == 0


async def test_a_failure_half_way_undoes_what_was_written(cal: Cal, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    await cal.suite.ics.import_ics(alice, cid, (HEAD + vevent("keep@test", title="Original") + TAIL).encode())
    [before] = await cal.suite.events.events.find({"calendarId": cid})
    repo = cal.suite.ics.events
    real_insert = repo.insert
    calls = 0

    async def failing_insert(record: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StoreError("disk full (injected)")
        return await real_insert(record)

    monkeypatch.setattr(repo, "insert", failing_insert)
    body = HEAD + vevent("keep@test", title="Changed") + "".join(vevent(f"n{i}@test") for i in range(4)) + TAIL
    with pytest.raises(StoreError):
        await cal.suite.ics.import_ics(alice, cid, body.encode())
    monkeypatch.undo()
    [after] = await cal.suite.events.events.find({"calendarId": cid})
    assert (after.id, after.title, after.version) == (before.id, "Original", before.version)
    logs = await cal.suite.ics.logs(alice, cid, 10)
    assert (logs[0].status, logs[0].errors[0].error_code) == ("error", "INTERNAL")
    assert (logs[1].status, logs[1].events_created) == ("success", 1)


async def test_time_zone_rules_listing_too_many_transitions_are_refused(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    rdates = ",".join(f"{2000 + n // 12:04d}{n % 12 + 1:02d}01T020000" for n in range(401))
    zone = (
        "BEGIN:VTIMEZONE\r\nTZID:Listed\r\nBEGIN:STANDARD\r\nDTSTART:19990101T020000\r\n"
        f"RDATE:{rdates}\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    start = ";TZID=Listed:20260103T100000"
    error = await refused(cal, alice, cid, HEAD + zone + vevent("l@test", start=start, end=start) + TAIL)
    assert error.code == "ICS_TOO_COMPLEX" and "RDATE" in error.message
