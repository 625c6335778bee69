"""Admin exports: events or users as JSON, CSV or ICS, streamed to a file in batches (never whole in memory).

A REST request records a pending export; the `calendar-exports` LeaseWorker runs it (the shared lease
mechanism: a crashed worker's export is taken over when its lease expires). The CLI runs one in-process
with a progress bar. Every export ends `completed` (with record count and file size) or `error`.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson
from icalendar import Timezone

from connectnow import errors
from connectnow.clock import iso_millis, new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.backup import every_document
from connectnow.repositories.calendar import EventRepository, ExportRepository
from connectnow.services.auth import Principal
from connectnow.services.calendar.ics_codec import PRODID, vevent
from connectnow.services.leases import LeaseSpec
from connectnow.store.port import Document, DocumentStore
from models.calendar import ExportCreate, ExportFormat, ExportPublic, ExportRecord, ExportType
from models.calendar_events import EventRecord
from models.users import UserMe

BATCH = 500  # documents per storage round trip while streaming
EXPORT_LEASE_SECONDS = 600.0
EVENT_CSV_COLUMNS = (
    "id", "userId", "calendarId", "uid", "title", "startTime", "endTime", "timeZone", "allDay", "location",
    "locationId", "category", "categoryId", "internalCategory", "priorityLevel", "isRecurring",
    "recurrenceMasterId", "setupStartTime", "setupEndTime", "teardownStartTime", "teardownEndTime",
    "budgetAllocated", "clientContact", "internalNotes", "equipmentRequired", "staffAssigned", "attendees",
    "syncStatus", "createdAt", "updatedAt", "createdBy", "lastModifiedBy",
)  # fmt: skip
USER_CSV_COLUMNS = ("id", "username", "email", "displayName", "isAdmin", "isActive", "isBanned", "createdAt")
Progress = Callable[[int], None]


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # spreadsheet formula injection (OWASP CSV injection)
    return value


class _Writer:
    """One output format: begin, one record at a time, end."""

    def __init__(self, out: IO[bytes], fmt: ExportFormat, kind: ExportType) -> None:
        self.out, self.fmt, self.kind = out, fmt, kind
        self.count = 0
        self.zones: set[str] = set()
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.csv = csv.writer(self.text)

    def begin(self) -> None:
        if self.fmt is ExportFormat.JSON:
            self.out.write(b"[\n")
        elif self.fmt is ExportFormat.CSV:
            self.csv.writerow(EVENT_CSV_COLUMNS if self.kind is ExportType.EVENTS else USER_CSV_COLUMNS)
        else:
            self.out.write(f"BEGIN:VCALENDAR\r\nPRODID:{PRODID}\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\n".encode())

    def write(self, wire: dict[str, Any], event: EventRecord | None) -> None:
        if self.fmt is ExportFormat.JSON:
            self.out.write((b",\n" if self.count else b"") + orjson.dumps(wire))
        elif self.fmt is ExportFormat.CSV:
            columns = EVENT_CSV_COLUMNS if self.kind is ExportType.EVENTS else USER_CSV_COLUMNS
            self.csv.writerow([_csv_cell(wire.get(c)) for c in columns])
        else:
            assert event is not None
            self.out.write(vevent(event, internal=True).to_ical())
            if event.time_zone != "UTC" and not event.all_day:
                self.zones.add(event.time_zone)
        self.count += 1

    def end(self) -> None:
        if self.fmt is ExportFormat.JSON:
            self.out.write(b"\n]\n")
        elif self.fmt is ExportFormat.ICS:
            for zone in sorted(self.zones):
                self.out.write(Timezone.from_tzid(zone).to_ical())
            self.out.write(b"END:VCALENDAR\r\n")
        self.text.flush()
        self.text.detach()


class ExportService:
    def __init__(self, store: DocumentStore, export_dir: Path) -> None:
        self.exports = ExportRepository(store)
        self.events = EventRepository(store)
        self.users = UserRepository(store)
        self.export_dir = export_dir
        self.queue = self.exports.lease_queue(LeaseSpec(), lease_seconds=EXPORT_LEASE_SECONDS)

    @staticmethod
    def require_admin(principal: Principal) -> None:
        if not principal.user.is_admin:
            raise AppError(errors.ADMIN_REQUIRED)

    async def create(self, principal: Principal, data: ExportCreate, *, status: str = "pending") -> ExportRecord:
        self.require_admin(principal)
        if data.export_type is ExportType.USERS and data.format is ExportFormat.ICS:
            raise AppError(errors.VALIDATION_FAILED, "Users export as JSON or CSV")
        if data.export_type is ExportType.FULL_BACKUP and data.format is not ExportFormat.JSON:
            raise AppError(errors.VALIDATION_FAILED, "A full backup is JSON")
        now = utcnow()
        record = ExportRecord(
            id=new_id(), admin_user_id=principal.user_id, export_type=data.export_type, format=data.format,
            filters=data.filters.model_dump(mode="json", by_alias=True, exclude_defaults=True), status=status,
            scheduled_for=now, created_at=now,
        )  # fmt: skip
        if status == "running":  # run in this process (the CLI): no server worker may claim it meanwhile
            record.lease_owner, record.lease_until = f"cli:{os.getpid()}", now + timedelta(days=1)
        return await self.exports.insert(record)

    async def list(self, principal: Principal, limit: int) -> list[ExportPublic]:
        self.require_admin(principal)
        return [ExportPublic.model_validate(r, from_attributes=True) for r in await self.exports.recent(limit)]

    async def get(self, principal: Principal, export_id: str) -> ExportRecord:
        self.require_admin(principal)
        record = await self.exports.get(export_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such export")
        return record

    async def file_of(self, principal: Principal, export_id: str) -> tuple[Path, ExportRecord]:
        record = await self.get(principal, export_id)
        if record.status != "completed" or not record.file_path:
            raise AppError(errors.EXPORT_NOT_READY, f"This export is {record.status}")
        return Path(record.file_path), record

    async def expected_count(self, record: ExportRecord) -> int | None:
        """How many records the export will write (None for a full backup: several collections)."""
        if record.export_type is ExportType.EVENTS:
            return await self.events.export_count(record.filters)
        if record.export_type is ExportType.FULL_BACKUP:
            return None
        only = list(record.filters["userIds"]) if record.filters.get("userIds") else None
        return await self.users.export_count(only)

    # --- running ---------------------------------------------------------------------------------------
    async def _records(self, record: ExportRecord) -> AsyncIterator[tuple[dict[str, Any], EventRecord | None]]:
        if record.export_type is ExportType.EVENTS:
            ics = record.format is ExportFormat.ICS
            async for doc in self.events.export_docs(record.filters, batch_size=BATCH):
                # JSON and CSV take the stored document as it is (no model round trip: 100,000 events must
                # stream quickly); ICS needs the typed record.
                yield _event_wire(doc), EventRecord.model_validate(doc) if ics else None
            return
        only = list(record.filters["userIds"]) if record.filters.get("userIds") else None
        async for user_doc in self.users.export_docs(only, batch_size=BATCH):
            yield _user_wire(user_doc), None

    async def run(
        self, record: ExportRecord, progress: Progress | None = None, *, owner: str | None = None
    ) -> ExportRecord:
        """Write the file; the record ends completed (count, size) or error (message).

        With `owner` (a lease worker), the outcome is recorded only while that worker still holds the lease."""
        path = self.export_dir / f"{record.id}.{record.format.value}"
        try:
            self.export_dir.mkdir(parents=True, exist_ok=True)
            with path.open("wb", buffering=1 << 16) as out:
                if record.export_type is ExportType.FULL_BACKUP:
                    count = await self._backup(out, progress)
                else:
                    writer = _Writer(out, record.format, record.export_type)
                    writer.begin()
                    async for wire, event in self._records(record):
                        writer.write(wire, event)
                        if progress is not None and writer.count % BATCH == 0:
                            progress(writer.count)
                    writer.end()
                    count = writer.count
            fields: dict[str, Any] = {"status": "completed", "filePath": str(path), "fileSize": path.stat().st_size,
                      "recordCount": count, "completedAt": utcnow()}  # fmt: skip
        except (OSError, ValueError) as exc:
            if path.is_file():
                path.unlink()
            fields = {"status": "error", "errorMessage": str(exc)[:500], "completedAt": utcnow()}
        if progress is not None and fields["status"] == "completed":
            progress(int(fields["recordCount"]))
        return await self.exports.record_outcome(record.id, owner, fields) or record

    async def _backup(self, out: IO[bytes], progress: Progress | None) -> int:
        """Seed 004 `full_backup`: one JSON object, a list per collection, streamed in batches. Secrets stay
        out (password hashes, feed token digests, RSVP nonces)."""
        count = 0
        out.write(b'{"exportType":"full_backup","createdAt":' + orjson.dumps(iso_millis(utcnow())))
        for key, collection, wire in BACKUP_SECTIONS:
            out.write(b',\n"' + key.encode() + b'":[')
            separator = b""
            async for doc in every_document(self.events.store, collection, batch_size=BATCH):
                out.write(separator + orjson.dumps(wire(doc)))
                separator = b",\n"
                count += 1
                if progress is not None and count % BATCH == 0:
                    progress(count)
            out.write(b"]")
        out.write(b"}\n")
        return count

    async def handle(self, item: Document, worker_id: str) -> None:
        """LeaseWorker handler: run a claimed export, then release it."""
        await self.run(ExportRecord.model_validate(item), owner=worker_id)


_BOOKKEEPING = frozenset({"rangeEnd", "originalKey", "sequence", "rsvp"})  # rsvp: link nonces, never exported


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value


def _event_wire(doc: Document) -> dict[str, Any]:
    """A stored event as exported: the same fields on both adapters, times as ISO text in UTC."""
    return {key: _iso(value) for key, value in doc.items() if key not in _BOOKKEEPING}


def _user_wire(doc: Document) -> dict[str, Any]:
    # UserMe leaves out the password hash and every secret.
    return UserMe.model_validate(doc).model_dump(mode="json", by_alias=True)


_BACKUP_SECRETS = frozenset({"feedTokenHash", "rsvp"})


def _without_secrets(doc: Document) -> dict[str, Any]:
    return {key: _iso(value) for key, value in doc.items() if key not in _BACKUP_SECRETS}


# (JSON key, collection, document -> exported form)
BACKUP_SECTIONS: tuple[tuple[str, str, Callable[[Document], dict[str, Any]]], ...] = (
    ("users", "users", _user_wire),
    ("calendars", "calendars", _without_secrets),
    ("calendarEvents", "calendar_events", _event_wire),
    ("categories", "calendar_categories", _without_secrets),
    ("locations", "calendar_locations", _without_secrets),
)
