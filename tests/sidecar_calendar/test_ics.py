"""ICS on both adapters: round trip unchanged, idempotent import by UID, hostile files refused, sync logs, feeds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectnow import errors
from connectnow.errors import AppError
from models.calendar_events import EventCreate, EventFields
from tests.sidecar_calendar.conftest import Cal


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def populate(cal: Cal) -> tuple[object, str]:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    specs = [
        {
            "title": "Standup",
            "startTime": "2026-03-02T09:00:00",
            "endTime": "2026-03-02T09:15:00",
            "timeZone": "America/New_York",
            "recurrencePattern": {"type": "weekly", "daysOfWeek": ["monday", "wednesday"], "endDate": "2026-04-30"},
        },
        {
            "title": "Monthly close",
            "startTime": "2026-01-31T17:00:00",
            "endTime": "2026-01-31T18:00:00",
            "timeZone": "Europe/Berlin",
            "recurrencePattern": {"type": "monthly", "interval": 2, "occurrenceCount": 5},
        },
        {
            "title": "Offsite",
            "startTime": "2026-03-28T00:00:00",
            "endTime": "2026-03-30T00:00:00",
            "allDay": True,
            "timeZone": "Australia/Sydney",
            "location": "Blue Mountains",
            "category": "Team",
            "attendees": [
                {"email": "a@x.example", "name": "Ann", "isOrganizer": True, "responseStatus": "accepted"},
                {"email": "b@x.example", "responseStatus": "tentative"},
            ],
        },
        {
            "title": "Anniversary",
            "startTime": "2026-02-28T12:00:00Z",
            "endTime": "2026-02-28T13:00:00Z",
            "description": "Line one\nLine two; with, punctuation",
            "recurrencePattern": {"type": "yearly", "occurrenceCount": 3},
            "priorityLevel": "high",
        },
    ]
    ids = []
    for spec in specs:
        ids.append(
            (await cal.suite.events.create(alice, EventCreate.model_validate({"calendarId": cid, **spec}))).event.id
        )
    await cal.suite.series.cancel_instance(alice, ids[0], utc(2026, 3, 9, 13))
    await cal.suite.series.edit_instance(
        alice,
        ids[0],
        utc(2026, 3, 11, 13),
        EventFields.model_validate(
            {"title": "Standup (moved)", "startTime": "2026-03-11T10:00:00", "endTime": "2026-03-11T10:30:00"}
        ),
    )
    return alice, cid


def view(items: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(i.title, i.start_time, i.end_time, i.all_day, i.time_zone, i.original_start_time) for i in items]


async def test_round_trip_through_ics_is_unchanged(cal: Cal) -> None:
    alice, cid = await populate(cal)
    exported = await cal.suite.ics.export(alice, cid)  # type: ignore[arg-type]
    copy = await cal.calendar(alice, "Copy")  # type: ignore[arg-type]
    log = await cal.suite.ics.import_ics(alice, copy, exported)  # type: ignore[arg-type]
    assert (log.status, log.events_processed, log.events_created, log.errors) == ("success", 5, 5, [])
    window = (utc(2026, 1, 1), utc(2027, 1, 1))
    original = await cal.suite.events.range(alice, [cid], *window)  # type: ignore[arg-type]
    imported = await cal.suite.events.range(alice, [copy], *window)  # type: ignore[arg-type]
    assert len(original) > 20 and view(original) == view(imported)
    # Exported again, the copy says the same thing (UIDs kept; only timestamps of the copy differ).
    again = await cal.suite.ics.export(alice, copy)  # type: ignore[arg-type]

    def stable(data: bytes) -> list[str]:
        skip = ("DTSTAMP", "CREATED", "LAST-MODIFIED", "X-WR-CALNAME", "SEQUENCE")
        return sorted(line for line in data.decode().splitlines() if not line.startswith(skip))

    assert stable(exported) == stable(again)
    mine = {e.uid for e in await cal.suite.events.events.find({"calendarId": cid})}
    theirs = {e.uid for e in await cal.suite.events.events.find({"calendarId": copy})}
    assert mine == theirs
    # Internal-only fields never leave in ICS.
    assert b"VIP" not in exported and b"INTERNAL-NOTES" not in exported


async def test_import_is_idempotent_by_uid(cal: Cal) -> None:
    alice, cid = await populate(cal)
    data = await cal.suite.ics.export(alice, cid)  # type: ignore[arg-type]
    target = await cal.calendar(alice, "Target")  # type: ignore[arg-type]
    await cal.suite.ics.import_ics(alice, target, data)  # type: ignore[arg-type]
    before = await cal.count("calendar_events", {"calendarId": target})
    second = await cal.suite.ics.import_ics(alice, target, data)  # type: ignore[arg-type]
    assert (second.events_created, second.events_updated) == (0, 5)
    assert await cal.count("calendar_events", {"calendarId": target}) == before
    # A changed title under the same UID updates in place.
    changed = data.replace(b"SUMMARY:Offsite", b"SUMMARY:Offsite 2026")
    third = await cal.suite.ics.import_ics(alice, target, changed)  # type: ignore[arg-type]
    assert third.events_created == 0
    titles = {e.title for e in await cal.suite.events.events.find({"calendarId": target})}
    assert "Offsite 2026" in titles and "Offsite" not in titles
    # Pruning removes events whose UID is no longer in the file.
    only_one = _calendar_with("only-one@test", "Solo")
    pruned = await cal.suite.ics.import_ics(alice, target, only_one, prune=True)  # type: ignore[arg-type]
    assert pruned.events_deleted == 4 and await cal.count("calendar_events", {"calendarId": target}) == 1
    logs = await cal.suite.ics.logs(alice, target, 10)  # type: ignore[arg-type]
    assert [entry.sync_type for entry in logs][:4] == ["ics_import"] * 4
    assert all(entry.duration_ms >= 0 and entry.completed_at >= entry.started_at for entry in logs)


def _calendar_with(uid: str, title: str, extra: str = "") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260601T100000Z\r\nDTEND:20260601T110000Z\r\n"
        f"SUMMARY:{title}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"x" * (64 * 1024 + 1), "ICS_TOO_LARGE"),
        ("BEGIN:VCALENDAR\r\nSUMMARY:caf\xe9\r\nEND:VCALENDAR\r\n".encode("latin-1"), "ICS_ENCODING"),
        ("BEGIN:VCALENDAR\r\n".encode("utf-16"), "ICS_ENCODING"),
        (
            b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 50 + b"END:VEVENT\r\n" * 50 + b"END:VCALENDAR\r\n",
            "ICS_TOO_COMPLEX",
        ),
        (b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\nEND:VEVENT\r\n" * 3000 + b"END:VCALENDAR\r\n", "ICS_TOO_LARGE"),
        (b"not a calendar at all", "ICS_MALFORMED"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", "ICS_MALFORMED"),
        (b"BEGIN:VCALENDAR\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "ICS_MALFORMED"),
        (b"BEGIN:VCALENDAR\r\nSUMMARY:\x00\r\nEND:VCALENDAR\r\n", "ICS_ENCODING"),
    ],
)
async def test_hostile_files_are_refused_with_a_code_and_nothing_is_stored(cal: Cal, data: bytes, code: str) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    with pytest.raises(AppError) as err:
        await cal.suite.ics.import_ics(alice, cid, data)
    assert err.value.code == code
    assert await cal.count("calendar_events") == 0


async def test_one_unreadable_event_refuses_the_whole_file_and_is_logged(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    good = _calendar_with("good@test", "Fine").decode()
    times = "DTSTART:20260601T100000Z\r\nDTEND:20260601T110000Z\r\n"
    bad_rule = f"BEGIN:VEVENT\r\nUID:bad@test\r\n{times}RRULE:FREQ=DAILY;INTERVAL=0\r\nEND:VEVENT\r\n"
    bysetpos = f"BEGIN:VEVENT\r\nUID:pos@test\r\n{times}RRULE:FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO\r\nEND:VEVENT\r\n"
    backwards = "BEGIN:VEVENT\r\nUID:back@test\r\nDTSTART:20260601T100000Z\r\nDTEND:20260601T090000Z\r\nEND:VEVENT\r\n"
    data = good.replace("END:VCALENDAR", bad_rule + bysetpos + backwards + "END:VCALENDAR").encode()
    with pytest.raises(AppError) as refused:
        await cal.suite.ics.import_ics(alice, cid, data)
    assert refused.value.code == "ICS_IMPORT_REFUSED" and len(refused.value.details["errors"]) == 3
    assert await cal.count("calendar_events") == 0  # all or nothing: not even the good one
    [log] = await cal.suite.ics.logs(alice, cid, 10)
    assert (log.status, log.events_processed, log.events_created) == ("error", 4, 0)
    assert {(e.event_id, e.error_code) for e in log.errors} == {
        ("bad@test", "VALIDATION_FAILED"),
        ("pos@test", "ICS_EVENT_UNREADABLE"),
        ("back@test", "EVENT_TIME_INVALID"),
    }


async def test_import_into_someone_elses_calendar_is_refused(cal: Cal) -> None:
    alice, mallory = await cal.user(), await cal.user()
    cid = await cal.calendar(alice)
    with pytest.raises(AppError) as err:
        await cal.suite.ics.import_ics(mallory, cid, _calendar_with("x@test", "Spam"))
    assert err.value.code == "NOT_FOUND"


async def test_feed_token_is_secret_rotatable_and_logged(cal: Cal) -> None:
    alice, cid = await populate(cal)
    token = await cal.suite.calendars.rotate_feed(alice, cid)  # type: ignore[arg-type]
    assert token.url == f"https://cn.example/api/v1/ics/feeds/{token.token}.ics"
    dump = await cal.store.dump()
    assert token.token not in str(dump)  # only the digest is stored
    first = await cal.suite.ics.feed(token.token)
    again = await cal.suite.ics.feed(token.token)
    assert first.etag == again.etag and b"BEGIN:VEVENT" in first.body
    standup = await cal.suite.events.events.find_one({"calendarId": cid, "title": "Standup"})
    assert standup is not None
    await cal.suite.series.cancel_instance(alice, standup.id, utc(2026, 3, 4, 14))  # type: ignore[arg-type]
    changed = await cal.suite.ics.feed(token.token)
    assert changed.etag != first.etag and changed.last_modified >= first.last_modified
    rotated = await cal.suite.calendars.rotate_feed(alice, cid)  # type: ignore[arg-type]
    for bad in (token.token, "cnf_nope", "x" * 200, rotated.token + "x"):
        with pytest.raises(AppError) as err:
            await cal.suite.ics.feed(bad)
        assert err.value.error is errors.NOT_FOUND
    logs = await cal.suite.ics.logs(alice, cid, 10)  # type: ignore[arg-type]
    assert [entry.sync_type for entry in logs].count("ics_feed") == 3


async def test_the_ics_provider_pulls_and_pushes_and_marks_events_synced(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    provider = cal.suite.providers["ics"]
    log = await provider.pull(alice, cid, _calendar_with("p@test", "From a provider"))
    assert log.events_created == 1
    stored = await cal.suite.events.events.find_one({"calendarId": cid, "uid": "p@test"})
    assert stored is not None and stored.sync_status == "synced" and stored.last_synced is not None
    assert b"UID:p@test" in await provider.push(alice, cid)
