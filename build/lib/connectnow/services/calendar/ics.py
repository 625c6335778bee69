"""ICS feeds (secret-token URL, ETag, Last-Modified) and idempotent ICS import; each writes a sync log."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.services.auth import Principal
from connectnow.services.calendar.events import EventService
from connectnow.services.calendar.ics_codec import ParsedEvent, build_calendar, decode_bounded, parse_calendar
from connectnow.services.calendar.series import add_exdate, original_key
from models.calendar import CalendarRecord, SyncError, SyncLogPublic, SyncLogRecord
from models.calendar_events import EventRecord, RecurrencePattern

MAX_FEED_EVENTS = 20_000  # a feed larger than this is cut (clients poll feeds; admins use exports)
MAX_SYNC_ERRORS = 100  # kept per sync log


@dataclass(frozen=True)
class FeedBody:
    body: bytes
    etag: str
    last_modified: datetime


@dataclass
class _Counts:
    processed: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0


class IcsService:
    def __init__(self, events: EventService, max_import_bytes: int) -> None:
        self.events_svc = events
        self.calendars = events.calendars
        self.events = events.events
        self.max_import_bytes = max_import_bytes

    # --- export ----------------------------------------------------------------------------------------
    async def _render(self, calendar: CalendarRecord) -> tuple[bytes, int]:
        events = await self.events.find({"calendarId": calendar.id}, sort=[("startTime", 1)], limit=MAX_FEED_EVENTS)
        return build_calendar(calendar.name, events), len(events)

    async def feed(self, token: str) -> FeedBody:
        calendar = await self.calendars.by_feed_token(token)
        started = time.monotonic()
        body, count = await self._render(calendar)
        await self._log(calendar, "ics_feed", started, _Counts(processed=count), [])
        return FeedBody(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', calendar.changed_at)

    async def feed_last_modified(self, token: str) -> datetime:
        return (await self.calendars.by_feed_token(token)).changed_at

    async def export(self, principal: Principal, calendar_id: str) -> bytes:
        calendar = await self.calendars.owned(principal, calendar_id)
        started = time.monotonic()
        body, count = await self._render(calendar)
        await self._log(calendar, "ics_export", started, _Counts(processed=count), [])
        return body

    # --- import ----------------------------------------------------------------------------------------
    async def import_ics(
        self, principal: Principal, calendar_id: str, data: bytes, *, prune: bool = False
    ) -> SyncLogPublic:
        """Same UID updates, never duplicates. With `prune`, events whose UID is not in the file go."""
        calendar = await self.calendars.owned(principal, calendar_id, for_write=True)
        started = time.monotonic()
        text = decode_bounded(data, self.max_import_bytes)
        parsed, failed = parse_calendar(text)
        counts = _Counts(processed=len(parsed) + len(failed))
        problems = [
            SyncError(event_id=uid, error_message=msg, error_code="ICS_EVENT_UNREADABLE") for uid, msg in failed
        ]
        # Series first, so their exceptions find them.
        for item in sorted(parsed, key=lambda p: p.recurrence_id is not None):
            try:
                await self._apply(principal, calendar, item, counts)
            except AppError as exc:
                problems.append(SyncError(event_id=item.uid, error_message=exc.message, error_code=exc.code))
            except ValidationError as exc:
                message = "; ".join(str(e.get("msg", "")) for e in exc.errors()[:3])
                problems.append(SyncError(event_id=item.uid, error_message=message, error_code="VALIDATION_FAILED"))
        if prune:
            seen = {p.uid for p in parsed} | {uid for uid, _ in failed if uid}
            async for event in self.events.iterate({"calendarId": calendar.id, "recurrenceMasterId": None}):
                if event.uid not in seen:
                    await self.events_svc.remove(event)
                    counts.deleted += 1
        await self.calendars.calendars.update({"id": calendar.id}, {"$set": {"lastSynced": utcnow()}})
        return await self._log(calendar, "ics_import", started, counts, problems)

    async def _apply(self, principal: Principal, calendar: CalendarRecord, item: ParsedEvent, counts: _Counts) -> None:
        values = dict(item.values)
        if values.get("recurrence_pattern") is not None:
            pattern = RecurrencePattern.model_validate(
                {to_camel(k): v for k, v in values["recurrence_pattern"].items()}
            )
            values["recurrence_pattern"] = pattern.model_dump()
        if item.recurrence_id is not None:
            await self._apply_exception(principal, calendar, item, values, counts)
            return
        existing = await self.events.by_uid(calendar.id, item.uid)
        if existing is not None and existing.recurrence_pattern is not None and "recurrence_pattern" not in values:
            values["recurrence_pattern"] = None
        values["is_recurring"] = values.get("recurrence_pattern") is not None
        record = self._record(principal, calendar, item.uid, values, existing)
        record = await self.events_svc.validate(principal, record)
        if existing is None:
            await self.events.insert(record)
            await self.events_svc.adjust_usage(None, record)
            counts.created += 1
        else:
            await self.events_svc.save(existing, record)
            counts.updated += 1

    def _record(
        self,
        principal: Principal,
        calendar: CalendarRecord,
        uid: str,
        values: dict[str, Any],
        existing: EventRecord | None,
    ) -> EventRecord:
        now = utcnow()
        if existing is not None:
            merged = existing.model_dump(by_alias=False)
            merged.update(values)
            merged.update(updated_at=now, last_modified_by=principal.user_id, version=existing.version + 1,
                          sync_status="synced", last_synced=now, sync_errors=[])  # fmt: skip
            return EventRecord.model_validate(merged)
        return EventRecord(
            id=new_id(), user_id=principal.user_id, calendar_id=calendar.id, uid=uid, **values,
            range_end=values["end_time"], created_at=now, updated_at=now,
            created_by=principal.user_id, last_modified_by=principal.user_id,
            sync_status="synced",
            last_synced=now,
        )  # fmt: skip

    async def _apply_exception(
        self, principal: Principal, calendar: CalendarRecord, item: ParsedEvent, values: dict[str, Any], counts: _Counts
    ) -> None:
        assert item.recurrence_id is not None
        master = await self.events.by_uid(calendar.id, item.uid)
        if master is None or master.recurrence_pattern is None:
            raise AppError(errors.INSTANCE_NOT_FOUND, "RECURRENCE-ID for a series that is not in this calendar")
        if item.cancelled:
            await add_exdate(self.events, master, item.recurrence_id)
            counts.updated += 1
            return
        key = original_key(item.recurrence_id)
        existing = await self.events.by_uid(calendar.id, item.uid, key)
        values.pop("recurrence_pattern", None)
        values.pop("exdates", None)
        values.update(recurrence_master_id=master.id, original_start_time=item.recurrence_id, original_key=key,
                      is_recurring=False)  # fmt: skip
        record = await self.events_svc.validate(
            principal, self._record(principal, calendar, item.uid, values, existing)
        )
        if existing is None:
            await self.events.insert(record)
            counts.created += 1
        else:
            await self.events_svc.save(existing, record)
            counts.updated += 1

    # --- sync logs -------------------------------------------------------------------------------------
    async def _log(
        self, calendar: CalendarRecord, sync_type: str, started: float, counts: _Counts, problems: list[SyncError]
    ) -> SyncLogPublic:
        finished = utcnow()
        duration_ms = int((time.monotonic() - started) * 1000)
        ok = counts.processed - len(problems)
        status = "success" if not problems else ("partial" if ok > 0 else "error")
        record = SyncLogRecord(
            id=new_id(), user_id=calendar.user_id, calendar_id=calendar.id, sync_type=sync_type, status=status,
            events_processed=counts.processed, events_created=counts.created, events_updated=counts.updated,
            events_deleted=counts.deleted, errors=problems[:MAX_SYNC_ERRORS],
            started_at=finished.fromtimestamp(finished.timestamp() - duration_ms / 1000, finished.tzinfo),
            completed_at=finished, duration_ms=duration_ms,
        )  # fmt: skip
        await self.calendars.sync_logs.insert(record)
        return SyncLogPublic.model_validate(record, from_attributes=True)

    async def logs(self, principal: Principal, calendar_id: str, limit: int) -> list[SyncLogPublic]:
        await self.calendars.owned(principal, calendar_id)
        return [SyncLogPublic.model_validate(r, from_attributes=True)
                for r in await self.calendars.sync_logs.for_calendar(calendar_id, limit)]  # fmt: skip
