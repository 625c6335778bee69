"""Series edits: change or cancel one instance (an exception), or split 'this and following'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connectnow import errors
from connectnow.clock import iso_millis, new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.calendar import EventRepository
from connectnow.services.auth import Principal
from connectnow.services.calendar import recurrence
from connectnow.services.calendar.events import EventService, field_values, public
from connectnow.services.calendar.rules import as_utc
from models.calendar_events import EventFields, EventRecord, EventSaved, SplitRequest


def original_key(original_start: datetime) -> str:
    return iso_millis(original_start)


async def add_exdate(events: EventRepository, master: EventRecord, original: datetime) -> EventRecord | None:
    """Cancel one instance. Datetimes are not scalars for $addToSet: write the list under the version lock."""
    exdates = sorted({*master.exdates, original})
    updated = await events.set_exdates(master, exdates, utcnow())
    if updated is None:
        raise AppError(errors.CONFLICT, "The series changed meanwhile; retry")
    return updated


class SeriesService:
    def __init__(self, events: EventService) -> None:
        self.svc = events
        self.events = events.events

    async def _master(self, principal: Principal, master_id: str, original_start: datetime) -> EventRecord:
        master = await self.svc.owned_event(principal, master_id)
        await self.svc.calendars.accessible(principal, master.calendar_id, write=True)
        if master.recurrence_pattern is None:
            raise AppError(errors.RECURRENCE_INVALID, "This event is not a series")
        if not recurrence.is_occurrence(master, original_start):
            raise AppError(errors.INSTANCE_NOT_FOUND)
        return master

    async def edit_instance(
        self, principal: Principal, master_id: str, original_start: datetime, data: EventFields
    ) -> EventSaved:
        """Create (or update) the exception replacing one instance; the rest of the series is unchanged."""
        original = as_utc(original_start, "UTC")
        master = await self._master(principal, master_id, original)
        if original in master.exdates:
            raise AppError(errors.INSTANCE_NOT_FOUND, "This instance was cancelled")
        key = original_key(original)
        existing = await self.events.by_uid(master.calendar_id, master.uid, key)
        base = existing or self._exception_of(master, original)
        merged = base.model_dump(by_alias=False)
        merged.update(field_values(data, data.time_zone or base.time_zone))
        merged.update(updated_at=utcnow(), last_modified_by=principal.user_id)
        record = await self.svc.validate(principal, EventRecord.model_validate(merged))
        conflicts = await self.svc.queries.conflicts(record, principal.user_id)
        if existing is None:
            await self.events.insert(record)
            await self.svc.reminders.schedule(record)
            await self.svc.reminders.schedule(master)
            await self.svc.announce("created", record)
            return EventSaved(event=public(record), conflicts=conflicts)
        saved = await self.svc.save(existing, record.model_copy(update={"version": existing.version + 1}))
        return EventSaved(event=public(saved), conflicts=conflicts)

    def _exception_of(self, master: EventRecord, original: datetime) -> EventRecord:
        duration = recurrence.wall_duration(master)
        local = recurrence.local_naive(original, master.time_zone)
        now = utcnow()
        offsets = {
            name: getattr(master, name) - master.start_time
            for name in ("setup_start_time", "setup_end_time", "teardown_start_time", "teardown_end_time")
            if getattr(master, name) is not None
        }
        return master.model_copy(
            update={
                "id": new_id(),
                "start_time": original,
                "end_time": recurrence.to_utc(local + duration, master.time_zone),
                **{name: original + offset for name, offset in offsets.items()},
                "is_recurring": False,
                "recurrence_pattern": None,
                "recurrence_master_id": master.id,
                "original_start_time": original,
                "original_key": original_key(original),
                "exdates": [],
                "version": 1,
                "created_at": now,
            }
        )

    async def cancel_instance(self, principal: Principal, master_id: str, original_start: datetime) -> None:
        """Cancel one instance: an EXDATE on the series; an exception for it, if any, goes too."""
        original = as_utc(original_start, "UTC")
        master = await self._master(principal, master_id, original)
        exception = await self.events.by_uid(master.calendar_id, master.uid, original_key(original))
        if exception is not None:
            await self.events.delete({"id": exception.id})
            await self.svc.reminders.cancel(exception.id)
        updated = await add_exdate(self.events, master, original)
        if updated is not None:
            await self.svc.reminders.schedule(updated)
            await self.svc.announce("updated", updated)

    async def split(self, principal: Principal, master_id: str, data: SplitRequest) -> EventSaved:
        """'This and following': the series ends before the instance; a new series starts at it."""
        original = as_utc(data.from_original_start, "UTC")
        master = await self._master(principal, master_id, original)
        head, tail = recurrence.split_patterns(master, original)
        if head is None:  # the first instance: the whole series changes
            raise AppError(errors.RECURRENCE_INVALID, "Splitting at the first instance: update the series")
        exceptions = await self.events.exceptions_of(master.id)
        new_id_ = new_id()
        shift = original - master.start_time
        now = utcnow()
        base = master.model_copy(
            update={
                "id": new_id_,
                "uid": f"{new_id_}@connectnow",
                "start_time": original,
                "end_time": recurrence.to_utc(
                    recurrence.local_naive(original, master.time_zone) + recurrence.wall_duration(master),
                    master.time_zone,
                ),
                **{n: getattr(master, n) + shift for n in _PREP if getattr(master, n) is not None},
                "recurrence_pattern": tail,
                "exdates": [d for d in master.exdates if d >= original],
                "version": 1,
                "sequence": 0,
                "created_at": now,
                "updated_at": now,
                "created_by": principal.user_id,
                "last_modified_by": principal.user_id,
                "outlook_event_id": None,
                "google_event_id": None,
            }
        )
        merged = base.model_dump(by_alias=False)
        merged.update(field_values(data, data.time_zone or master.time_zone, exclude={"from_original_start"}))
        if data.recurrence_pattern is not None:
            merged["recurrence_pattern"] = data.recurrence_pattern.model_dump()
        record = EventRecord.model_validate(merged)
        moved = _shifter(master.time_zone, original, record)
        record.exdates = [moved(d) for d in record.exdates]
        record = await self.svc.validate(principal, record)
        conflicts = await self.svc.queries.conflicts(record, principal.user_id)
        old = master.model_copy(
            update={
                "recurrence_pattern": head,
                "exdates": [d for d in master.exdates if d < original],
                "version": master.version + 1,
                "sequence": master.sequence + 1,
                "updated_at": now,
                "last_modified_by": principal.user_id,
            }
        )
        old = await self.svc.validate(principal, old)
        await self.events.insert(record)
        await self.svc.save(master, old)
        await self.svc.adjust_usage(None, record)
        moved = _shifter(master.time_zone, original, record)
        for exception in exceptions:
            if exception.original_start_time and exception.original_start_time >= original:
                # Later exceptions follow their instances into the new series (shifted if its time changed).
                new_original = moved(exception.original_start_time)
                moved_fields = {
                    "recurrenceMasterId": record.id,
                    "uid": record.uid,
                    "originalStartTime": new_original,
                    "originalKey": original_key(new_original),
                }
                await self.events.set_fields(exception.id, moved_fields)
        await self.svc.reminders.schedule(record)
        await self.svc.announce("created", record)
        return EventSaved(event=public(record), conflicts=conflicts)


def _shifter(zone: str, original: datetime, record: EventRecord) -> Callable[[datetime], datetime]:
    """Map an old instance start to the new series' one: the same wall-clock shift as its first instance."""
    delta = recurrence.local_naive(record.start_time, zone) - recurrence.local_naive(original, zone)

    def shift(value: datetime) -> datetime:
        return recurrence.to_utc(recurrence.local_naive(value, zone) + delta, zone)

    return shift


_PREP = ("setup_start_time", "setup_end_time", "teardown_start_time", "teardown_end_time")
