"""ICS feeds (secret-token URL, ETag, Last-Modified) and idempotent ICS import; each writes a sync log."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
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
from connectnow.services.calendar.series import original_key
from models.calendar import CalendarRecord, SyncError, SyncLogPublic, SyncLogRecord
from models.calendar_events import EventRecord, RecurrencePattern

MAX_FEED_EVENTS = 20_000  # a feed larger than this is cut (clients poll feeds; admins use exports)
MAX_SYNC_ERRORS = 100  # kept per sync log

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedBody:
    body: bytes
    etag: str
    last_modified: datetime


@dataclass
class _Step:
    """One planned write of an import: `insert` `record`, `save` `current` as `record`, or `remove` `current`."""

    kind: str
    current: EventRecord | None
    record: EventRecord | None
    touch_only: bool = False  # a stored series the file only cancels instances of
    queued: bool = False  # already written (a step may be listed twice, see _plan_exception)
    dropped: list[EventRecord] = field(default_factory=list)  # exceptions the write deletes, for undo

    @property
    def event_id(self) -> str:
        chosen = self.record or self.current
        return chosen.id if chosen else "?"


def _wire(problem: SyncError) -> dict[str, Any]:
    return problem.model_dump(by_alias=True, mode="json")


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
        """All or nothing: every event is read and validated first, and one problem refuses the whole file
        (`ICS_IMPORT_REFUSED`, nothing written). Same UID updates, never duplicates; with `prune`, events
        whose UID is not in the file go. A sync log is written either way."""
        calendar = await self.calendars.owned(principal, calendar_id, for_write=True)
        return await self.import_into(principal, calendar, data, prune=prune)

    async def import_into(
        self, principal: Principal, calendar: CalendarRecord, data: bytes, *, prune: bool, sync_type: str = "ics_import"
    ) -> SyncLogPublic:
        """`import_ics` for a calendar the caller already checked (a subscription refreshes its read-only one)."""
        started = time.monotonic()
        counts = _Counts()
        problems: list[SyncError] = []
        try:
            text = decode_bounded(data, self.max_import_bytes)
            # Off the loop: parsing and time-zone conversion of a large file is CPU work.
            parsed, failed = await asyncio.to_thread(parse_calendar, text)
            counts.processed = len(parsed) + len(failed)
            problems = [
                SyncError(event_id=uid, error_message=msg, error_code="ICS_EVENT_UNREADABLE") for uid, msg in failed
            ]
            steps = await self._plan(principal, calendar, parsed, problems, prune)
            if problems:
                raise AppError(
                    errors.ICS_IMPORT_REFUSED, details={"errors": [_wire(p) for p in problems[:MAX_SYNC_ERRORS]]}
                )
            await self._run(steps, counts)
        except AppError as exc:
            problems = problems or [SyncError(event_id=None, error_message=exc.message, error_code=exc.code)]
            await self._log(calendar, sync_type, started, _Counts(processed=counts.processed), problems, failed=True)
            raise
        except Exception as exc:
            problem = SyncError(event_id=None, error_message=type(exc).__name__, error_code=errors.INTERNAL.code)
            await self._log(calendar, sync_type, started, _Counts(processed=counts.processed), [problem], failed=True)
            raise
        await self.calendars.calendars.set_fields(calendar.id, {"lastSynced": utcnow()})
        return await self._log(calendar, sync_type, started, counts, problems)

    async def _plan(
        self,
        principal: Principal,
        calendar: CalendarRecord,
        parsed: list[ParsedEvent],
        problems: list[SyncError],
        prune: bool,
    ) -> list[_Step]:
        """The writes the file asks for, each validated, none performed. Problems are appended."""
        steps: list[_Step] = []
        masters: dict[str, _Step] = {}  # uid -> the planned write of that series or single event
        seen: set[tuple[str, str]] = set()
        # Series first, so their exceptions find them.
        for item in sorted(parsed, key=lambda p: p.recurrence_id is not None):
            key = (item.uid, "-" if item.recurrence_id is None else original_key(item.recurrence_id))
            if key in seen:
                message = "This UID (with this RECURRENCE-ID) appears twice in the file"
                problems.append(SyncError(event_id=item.uid, error_message=message, error_code="ICS_EVENT_UNREADABLE"))
                continue
            seen.add(key)
            try:
                if item.recurrence_id is None:
                    step = await self._plan_event(principal, calendar, item)
                    masters[item.uid] = step
                    steps.append(step)
                else:
                    steps.extend(await self._plan_exception(principal, calendar, item, masters))
            except AppError as exc:
                problems.append(SyncError(event_id=item.uid, error_message=exc.message, error_code=exc.code))
            except ValidationError as exc:
                message = "; ".join(str(e.get("msg", "")) for e in exc.errors()[:3])
                problems.append(SyncError(event_id=item.uid, error_message=message, error_code="VALIDATION_FAILED"))
        new_series = [
            s.record for s in steps if s.kind == "insert" and s.record is not None and s.record.recurrence_pattern
        ]
        if new_series and not problems:  # each was checked alone; together they must fit too
            try:
                await self.events_svc.check_series_quota(new_series[0], adding=len(new_series))
            except AppError as exc:
                problems.append(SyncError(event_id=None, error_message=exc.message, error_code=exc.code))
        if prune:
            keep = {p.uid for p in parsed}
            async for event in self.events.iterate({"calendarId": calendar.id, "recurrenceMasterId": None}):
                if event.uid not in keep:
                    steps.append(_Step("remove", event, None))
        return steps

    def _values(self, item: ParsedEvent) -> dict[str, Any]:
        values = dict(item.values)
        if values.get("recurrence_pattern") is not None:
            pattern = RecurrencePattern.model_validate(
                {to_camel(k): v for k, v in values["recurrence_pattern"].items()}
            )
            values["recurrence_pattern"] = pattern.model_dump()
        return values

    async def _plan_event(self, principal: Principal, calendar: CalendarRecord, item: ParsedEvent) -> _Step:
        values = self._values(item)
        existing = await self.events.by_uid(calendar.id, item.uid)
        if existing is not None and existing.recurrence_pattern is not None and "recurrence_pattern" not in values:
            values["recurrence_pattern"] = None
        values["is_recurring"] = values.get("recurrence_pattern") is not None
        record = await self.events_svc.validate(
            principal, self._record(principal, calendar, item.uid, values, existing)
        )
        return _Step("insert" if existing is None else "save", existing, record)

    async def _plan_exception(
        self, principal: Principal, calendar: CalendarRecord, item: ParsedEvent, masters: dict[str, _Step]
    ) -> list[_Step]:
        assert item.recurrence_id is not None
        planned = masters.get(item.uid)
        if planned is None:
            stored = await self.events.by_uid(calendar.id, item.uid)
            if stored is not None:
                # A series not in this file: its planned write is an exdate change only (if any).
                now = utcnow()
                bumped = stored.model_copy(update={"version": stored.version + 1, "updated_at": now})
                planned = masters[item.uid] = _Step("save", stored, bumped, touch_only=True)
        if planned is None or planned.record is None or planned.record.recurrence_pattern is None:
            raise AppError(errors.INSTANCE_NOT_FOUND, "RECURRENCE-ID for a series that is not in this calendar")
        master = planned.record
        if item.cancelled:
            planned.record = master.model_copy(
                update={"exdates": sorted({*master.exdates, item.recurrence_id}), "sequence": master.sequence + 1}
            )
            # A series only cancelled into gets written once, however many instances the file cancels.
            return [planned] if planned.touch_only and not planned.queued else []
        key = original_key(item.recurrence_id)
        existing = await self.events.by_uid(calendar.id, item.uid, key) if planned.kind == "save" else None
        values = self._values(item)
        values.pop("recurrence_pattern", None)
        values.pop("exdates", None)
        values.update(recurrence_master_id=master.id, original_start_time=item.recurrence_id, original_key=key,
                      is_recurring=False)  # fmt: skip
        record = await self.events_svc.validate(
            principal, self._record(principal, calendar, item.uid, values, existing)
        )
        return [_Step("insert" if existing is None else "save", existing, record)]

    async def _run(self, steps: list[_Step], counts: _Counts) -> None:
        """Perform the planned writes; if one fails (a concurrent edit, the store), undo those done."""
        undo: list[_Step] = []
        try:
            for step in steps:
                if step.queued:
                    continue
                step.queued = True
                await self._write(step)
                undo.append(step)
                counts.created += step.kind == "insert"
                counts.updated += step.kind == "save"
                counts.deleted += step.kind == "remove"
        except BaseException:
            for done in reversed(undo):
                try:
                    await self._unwrite(done)
                except Exception:  # undo as much as possible, then let the first failure propagate
                    logger.exception("ics import: could not undo a %s of event %s", done.kind, done.event_id)
            raise

    async def _write(self, step: _Step) -> None:
        if step.kind == "insert":
            assert step.record is not None
            await self.events.insert(step.record)
            await self.events_svc.adjust_usage(None, step.record)
        elif step.kind == "save":
            assert step.current is not None and step.record is not None
            if step.record.recurrence_pattern is None and step.current.recurrence_pattern is not None:
                step.dropped = await self.events.exceptions_of(step.current.id)  # save() deletes them
            await self.events_svc.save(step.current, step.record)
        else:
            assert step.current is not None
            step.dropped = await self.events.exceptions_of(step.current.id)
            await self.events_svc.remove(step.current)

    async def _unwrite(self, step: _Step) -> None:
        if step.kind == "insert":
            assert step.record is not None
            await self.events.delete({"id": step.record.id})
            await self.events_svc.adjust_usage(step.record, None)
            return
        assert step.current is not None
        if step.kind == "save":
            assert step.record is not None
            await self.events.put_back(step.current)
            await self.events_svc.adjust_usage(step.record, step.current)
        else:
            await self.events.insert(step.current)
            await self.events_svc.adjust_usage(None, step.current)
        for exception in step.dropped:
            await self.events.insert(exception)
        await self.events_svc.reminders.schedule(step.current)

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

    # --- sync logs -------------------------------------------------------------------------------------
    async def _log(
        self,
        calendar: CalendarRecord,
        sync_type: str,
        started: float,
        counts: _Counts,
        problems: list[SyncError],
        *,
        failed: bool = False,
    ) -> SyncLogPublic:
        finished = utcnow()
        duration_ms = int((time.monotonic() - started) * 1000)
        ok = counts.processed - len(problems)
        status = "error" if failed else "success" if not problems else ("partial" if ok > 0 else "error")
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
