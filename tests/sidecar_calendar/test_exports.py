"""Admin exports on both adapters (JSON, CSV, ICS; filters; status), and 100,000 events in bounded memory."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from connectnow.clock import new_id
from connectnow.errors import AppError
from connectnow.services.calendar.exports import ExportService
from connectnow.services.leases import LeaseWorker
from connectnow.store.store_sqlite import SqliteStore
from models.calendar import CategoryCreate, ExportCreate, ExportRecord
from models.calendar_events import EventCreate, EventFields
from tests.sidecar_calendar.conftest import Cal


def read_text(path: str | None) -> str:
    return Path(path or "").read_text(encoding="utf-8")


def read_bytes(path: str | None) -> bytes:
    return Path(path or "").read_bytes()


def file_size(path: str | None) -> int:
    return Path(path or "").stat().st_size


async def seeded(cal: Cal) -> dict[str, Any]:
    alice, bob, admin = await cal.user("alice"), await cal.user("bob"), await cal.user("root", admin=True)
    a_cal, b_cal = await cal.calendar(alice), await cal.calendar(bob)
    cat = await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "Sales"}))
    for day in range(1, 6):
        await cal.suite.events.create(
            alice,
            EventCreate.model_validate(
                {
                    "calendarId": a_cal,
                    "title": f'=HYPERLINK("evil") {day}',
                    "startTime": f"2026-06-0{day}T09:00:00",
                    "endTime": f"2026-06-0{day}T10:00:00",
                    "timeZone": "Europe/Berlin",
                    "internalNotes": "internal",
                    **({"categoryId": cat.id} if day % 2 else {}),
                }
            ),
        )
    await cal.suite.events.create(
        bob,
        EventCreate.model_validate(
            {
                "calendarId": b_cal,
                "title": "Bob's",
                "startTime": "2026-07-01T09:00:00Z",
                "endTime": "2026-07-01T10:00:00Z",
            }
        ),
    )
    return {"alice": alice, "bob": bob, "admin": admin, "category": cat.id}


async def run(cal: Cal, admin: Any, **body: Any) -> ExportRecord:
    record = await cal.suite.exports.create(admin, ExportCreate.model_validate(body))
    worker = LeaseWorker("test-exports", cal.suite.exports.queue, cal.suite.exports.handle)
    assert await worker.run_once() == 1  # through the real lease queue, as the server runs it
    done = await cal.suite.exports.get(admin, record.id)
    assert done.status == "completed" and done.file_path and done.completed_at
    assert file_size(done.file_path) == done.file_size
    return done


async def test_json_export_with_filters(cal: Cal) -> None:
    s = await seeded(cal)
    everything = await run(cal, s["admin"], exportType="events", format="json")
    rows = json.loads(read_text(everything.file_path))
    assert everything.record_count == len(rows) == 6
    assert rows[0]["internalNotes"] == "internal" and "startTime" in rows[0]
    only = await run(
        cal,
        s["admin"],
        filters={
            "userIds": [s["alice"].user_id],
            "categories": [s["category"]],
            "startDate": "2026-06-02",
            "endDate": "2026-06-05",
        },
    )
    titles = [r["title"] for r in json.loads(read_text(only.file_path))]
    assert titles == ['=HYPERLINK("evil") 3', '=HYPERLINK("evil") 5']


async def test_csv_export_neutralises_formulas_and_users_export_hides_secrets(cal: Cal) -> None:
    s = await seeded(cal)
    done = await run(cal, s["admin"], format="csv")
    rows = list(csv.DictReader(io.StringIO(read_text(done.file_path), newline="")))
    assert len(rows) == done.record_count == 6
    assert all(not r["title"].startswith("=") for r in rows)
    users = await run(cal, s["admin"], exportType="users", format="csv")
    text = read_text(users.file_path)
    assert users.record_count == 3 and "alice@example.com" in text and "passwordHash" not in text
    users_json = await run(cal, s["admin"], exportType="users", format="json", filters={"userIds": [s["bob"].user_id]})
    assert [u["username"] for u in json.loads(read_text(users_json.file_path))] == ["bob"]


async def test_full_backup_holds_every_collection_without_secrets(cal: Cal) -> None:
    s = await seeded(cal)
    calendars = await cal.suite.calendars.list(s["alice"])
    await cal.suite.calendars.rotate_feed(s["alice"], calendars[0].id)  # a feed token digest to keep out
    done = await run(cal, s["admin"], exportType="full_backup", format="json")
    backup = json.loads(read_text(done.file_path))
    assert backup["exportType"] == "full_backup"
    sizes = {key: len(backup[key]) for key in ("users", "calendars", "calendarEvents", "categories", "locations")}
    assert sizes == {"users": 3, "calendars": 2, "calendarEvents": 6, "categories": 1, "locations": 0}
    assert done.record_count == sum(sizes.values())
    text = read_text(done.file_path)
    assert "passwordHash" not in text and "feedTokenHash" not in text and '"rsvp"' not in text
    with pytest.raises(AppError):
        await cal.suite.exports.create(
            s["admin"], ExportCreate.model_validate({"exportType": "full_backup", "format": "csv"})
        )


async def test_ics_export_parses_with_time_zones(cal: Cal) -> None:
    s = await seeded(cal)
    done = await run(cal, s["admin"], format="ics")
    parsed = Calendar.from_ical(read_bytes(done.file_path))
    assert len(parsed.walk("VEVENT")) == 6 and [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert "X-CONNECTNOW-INTERNAL-NOTES" in parsed.walk("VEVENT")[0]  # admin exports keep internal fields


async def test_only_admins_export_and_bad_requests_are_refused(cal: Cal) -> None:
    s = await seeded(cal)
    with pytest.raises(AppError) as err:
        await cal.suite.exports.create(s["alice"], ExportCreate.model_validate({}))
    assert err.value.code == "ADMIN_REQUIRED"
    with pytest.raises(AppError) as err:
        await cal.suite.exports.create(
            s["admin"], ExportCreate.model_validate({"exportType": "users", "format": "ics"})
        )
    assert err.value.code == "VALIDATION_FAILED"
    for bad in (
        {"format": "xml"},
        {"filters": {"startDate": "2026-06-05", "endDate": "2026-06-01"}},
        {"filters": {"userIds": [{"$ne": None}]}},
        {"filters": {"categories": ["../../etc"]}},
    ):
        with pytest.raises(ValueError):
            ExportCreate.model_validate(bad)
    pending = await cal.suite.exports.create(s["admin"], ExportCreate.model_validate({}))
    with pytest.raises(AppError) as err:
        await cal.suite.exports.file_of(s["admin"], pending.id)
    assert err.value.code == "EXPORT_NOT_READY"
    assert await cal.count("calendar_exports", {"status": "pending"}) == 1


async def test_a_failing_export_ends_in_error(cal: Cal, tmp_path: Path) -> None:
    s = await seeded(cal)
    blocked = tmp_path / "not-a-dir"
    await asyncio.to_thread(blocked.write_text, "a file where the export folder should be")
    service = ExportService(cal.store, blocked)
    record = await service.create(s["admin"], ExportCreate.model_validate({}), status="running")
    finished = await service.run(record)
    assert finished.status == "error" and finished.error_message and finished.file_path is None


EXPORT_EVENTS = 100_000
PEAK_BOUND_BYTES = 8 * 1024 * 1024  # the JSON file is ~60 MB; streaming keeps the peak far below it


@pytest.mark.slow
async def test_export_of_100k_events_runs_in_bounded_memory(tmp_path: Path) -> None:
    """On SQLite: mongomock keeps every document in Python memory itself and sorts in memory, so it cannot
    show the adapter's streaming; real MongoDB streams the same `iterate` cursor in batches."""
    store = SqliteStore(tmp_path / "big.db")
    await store.open()
    await store.migrate()
    try:
        coll = store.collection("calendar_events")
        base = datetime(2026, 1, 1, tzinfo=UTC)
        now = datetime.now(UTC)
        for batch in range(0, EXPORT_EVENTS, 5000):
            docs = []
            for n in range(batch, batch + 5000):
                start = base + timedelta(minutes=15 * n)
                docs.append(
                    {
                        "id": new_id(),
                        "userId": "u" * 24,
                        "calendarId": "c" * 24,
                        "uid": f"{n}@bulk",
                        "title": f"Event {n}",
                        "description": "A realistic description of moderate length " * 3,
                        "startTime": start,
                        "endTime": start + timedelta(minutes=30),
                        "rangeEnd": start + timedelta(minutes=30),
                        "timeZone": "Europe/Berlin",
                        "attendees": [{"email": "a@x.example", "responseStatus": "accepted"}],
                        "createdAt": now,
                        "updatedAt": now,
                        "createdBy": "u" * 24,
                        "lastModifiedBy": "u" * 24,
                    }
                )
            await coll.insert_many(docs)
        del docs
        service = ExportService(store, tmp_path / "exports")
        admin = await _admin(store)
        record = await service.create(admin, ExportCreate.model_validate({"format": "json"}), status="running")
        seen: list[int] = []
        started = time.monotonic()
        tracemalloc.start()
        try:
            done = await service.run(record, progress=seen.append)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert done.status == "completed" and done.record_count == EXPORT_EVENTS
        assert done.file_size is not None and done.file_size > 3 * PEAK_BOUND_BYTES
        assert peak < PEAK_BOUND_BYTES, f"peak {peak} bytes"
        print(f"export of {EXPORT_EVENTS} events: peak {peak} bytes, file {done.file_size} bytes")
        assert seen[-1] == EXPORT_EVENTS and len(seen) > 100  # the CLI's progress bar is fed as it goes
        assert time.monotonic() - started < 60
        assert (await asyncio.to_thread(read_bytes, done.file_path))[:2] == b"[\n"
    finally:
        await store.close()


async def _admin(store: SqliteStore) -> Any:
    from connectnow.identity import Principal
    from connectnow.repositories.accounts import UserRepository
    from models.users import UserRecord

    now = datetime.now(UTC)
    user = UserRecord(
        id=new_id(),
        email="r@x.example",
        email_lower="r@x.example",
        username="root",
        username_lower="root",
        display_name="Root",
        is_admin=True,
        created_at=now,
        updated_at=now,
    )
    await UserRepository(store).insert(user)
    return Principal(user=user)


async def test_archiving_moves_ended_events_and_whole_series_only(cal: Cal) -> None:
    admin, alice = await cal.user("root", admin=True), await cal.user("alice")
    cid = await cal.calendar(alice)

    async def make(title: str, start: str, **extra: Any) -> str:
        end = start.replace("T09", "T10")
        body = {"calendarId": cid, "title": title, "startTime": start, "endTime": end, **extra}
        return (await cal.suite.events.create(alice, EventCreate.model_validate(body))).event.id

    weekly = {"type": "weekly", "daysOfWeek": ["monday"]}
    await make("Old", "2026-06-01T09:00:00Z")
    done = await make("Done", "2026-06-01T09:00:00Z", recurrencePattern={**weekly, "occurrenceCount": 3})
    ongoing = await make("Ongoing", "2026-06-01T09:00:00Z", recurrencePattern=weekly)
    await make("Future", "2027-01-04T09:00:00Z")
    for master in (done, ongoing):
        await cal.suite.series.edit_instance(
            alice, master, datetime(2026, 6, 8, 9, tzinfo=UTC), EventFields.model_validate({"title": "Moved"})
        )
    with pytest.raises(AppError) as err:
        await cal.suite.archive.archive_before(alice, date(2026, 7, 1))
    assert err.value.code == "ADMIN_REQUIRED"
    with pytest.raises(AppError) as err:
        await cal.suite.archive.archive_before(admin, date(2099, 1, 1))
    assert err.value.code == "VALIDATION_FAILED"
    result = await cal.suite.archive.archive_before(admin, date(2026, 7, 1))
    assert result["archived"] == 3  # "Old", the "Done" series and its exception
    archived = await cal.suite.archive.list_archived(admin, cid, 100, 0)
    assert sorted(e.title for e in archived) == ["Done", "Moved", "Old"]
    june = await cal.suite.events.range(
        alice, [cid], datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC)
    )
    assert [i.title for i in june] == ["Ongoing", "Moved", "Ongoing", "Ongoing", "Ongoing"]
    assert (await cal.suite.archive.archive_before(admin, date(2026, 7, 1)))["archived"] == 0
    assert await cal.count("calendar_events") == 3  # "Ongoing", its exception, "Future"
