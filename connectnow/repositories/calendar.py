"""Calendar repositories (seed 004): named queries over the calendar collections."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connectnow.repositories.base import Repository
from connectnow.repositories.leases import LeaseQueue, LeaseSpec
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.calendar import (
    GLOBAL_SCOPE,
    CalendarRecord,
    CategoryRecord,
    ExportRecord,
    LocationRecord,
    SyncLogRecord,
)
from models.calendar_events import EventRecord


def user_scope(user_id: str) -> str:
    return f"user:{user_id}"


def export_filter(filters: dict[str, Any]) -> dict[str, Any]:
    """The stored-event filter of an export's filters (dates, users, categories, locations)."""
    flt: dict[str, Any] = {}
    if filters.get("startDate"):
        flt["rangeEnd"] = {"$gt": datetime.combine(date.fromisoformat(str(filters["startDate"])), time(0), UTC)}
    if filters.get("endDate"):
        end = date.fromisoformat(str(filters["endDate"])) + timedelta(days=1)
        flt["startTime"] = {"$lt": datetime.combine(end, time(0), UTC)}
    for key, field in (("userIds", "userId"), ("categories", "categoryId"), ("locations", "locationId")):
        if filters.get(key):
            flt[field] = {"$in": list(filters[key])}
    return flt


class CalendarRepository(Repository[CalendarRecord]):
    collection_name = "calendars"
    model = CalendarRecord

    async def for_user(self, user_id: str) -> list[CalendarRecord]:
        return await self.find({"userId": user_id}, sort=[("createdAt", 1)])

    async def by_feed_hash(self, token_hash: str) -> CalendarRecord | None:
        return await self.find_one({"feedTokenHash": token_hash})

    async def shared_with(self, user_id: str, *, limit: int = 500) -> list[CalendarRecord]:
        return await self.find({"sharedWith": {"$elemMatch": {"$eq": user_id}}}, limit=limit)

    async def clear_primary(self, user_id: str) -> int:
        return await self.update_many({"userId": user_id, "isPrimary": True}, {"$set": {"isPrimary": False}})

    async def change_owned(
        self, calendar_id: str, user_id: str, fields: dict[str, Any], now: datetime
    ) -> CalendarRecord | None:
        """Change one of the user's calendars; `changedAt` never moves back (feeds compare it)."""
        return await self.update(
            {"id": calendar_id, "userId": user_id},
            {"$set": {**fields, "updatedAt": now}, "$max": {"changedAt": now}},
        )

    async def touch(self, calendar_id: str, now: datetime) -> None:
        await self.coll.update_one({"id": calendar_id}, {"$max": {"changedAt": now}})


class EventRepository(Repository[EventRecord]):
    collection_name = "calendar_events"
    model = EventRecord

    async def in_range(
        self, calendar_ids: list[str], time_min: datetime, time_max: datetime, *, limit: int
    ) -> list[EventRecord]:
        """Single events, exceptions and series whose span meets [time_min, time_max)."""
        return await self.find(
            {"calendarId": {"$in": calendar_ids}, "startTime": {"$lt": time_max}, "rangeEnd": {"$gt": time_min}},
            sort=[("startTime", 1), ("id", 1)],
            limit=limit,
        )

    async def invited_in_range(
        self, user_id: str, time_min: datetime, time_max: datetime, *, limit: int
    ) -> list[EventRecord]:
        """Events (and series) meeting [time_min, time_max) whose invitation `user_id` linked to their account."""
        return await self.find(
            {
                "inviteeUserIds": {"$elemMatch": {"$eq": user_id}},
                "startTime": {"$lt": time_max},
                "rangeEnd": {"$gt": time_min},
            },
            sort=[("startTime", 1), ("id", 1)],
            limit=limit,
        )

    async def at_location(self, location_id: str, time_min: datetime, time_max: datetime) -> list[EventRecord]:
        # Busy windows reach back by setup time: look back a day so setup windows are found too.
        return await self.find(
            {"locationId": location_id, "startTime": {"$lt": time_max}, "rangeEnd": {"$gt": time_min}},
            sort=[("startTime", 1)],
            limit=2000,
        )

    async def drop_reference(self, field: str, value: str) -> int:
        """Events lose a deleted category's or location's id (`field` is categoryId or locationId)."""
        return await self.update_many({field: value}, {"$unset": {field: ""}})

    async def usage_counts(self, field: str) -> dict[Any, int]:
        """How many series and single events (exceptions do not count) use each value of `field`."""
        return await self.coll.count_by({"recurrenceMasterId": None}, field)

    def export_docs(self, filters: dict[str, Any], *, batch_size: int) -> AsyncIterator[dict[str, Any]]:
        """The stored documents an export takes, in start order (no model round trip: 100,000 events must
        stream quickly)."""
        return self.coll.iterate(export_filter(filters), sort=[("startTime", 1)], batch_size=batch_size)

    async def export_count(self, filters: dict[str, Any]) -> int:
        return await self.count(export_filter(filters))

    async def series_count(self, calendar_id: str, *, besides: str) -> int:
        """How many recurring series the calendar holds, not counting `besides`."""
        return await self.count({"calendarId": calendar_id, "isRecurring": True, "id": {"$ne": besides}})

    async def replace_if_version(self, current: EventRecord, record: EventRecord) -> bool:
        """Store `record` in place of `current`, if nobody changed it meanwhile (optimistic lock on version)."""
        return await self.coll.replace_one({"id": current.id, "version": current.version}, record.to_doc())

    async def put_back(self, record: EventRecord) -> bool:
        """Store a record again as it was (undoing a change)."""
        return await self.coll.replace_one({"id": record.id}, record.to_doc())

    async def exceptions_of_many(self, master_ids: list[str], *, limit: int = 50_000) -> list[EventRecord]:
        return await self.find({"recurrenceMasterId": {"$in": master_ids}}, limit=limit)

    async def set_exdates(self, master: EventRecord, exdates: list[datetime], now: datetime) -> EventRecord | None:
        """A series' cancelled instances, under its version lock (None when it changed meanwhile)."""
        return await self.update(
            {"id": master.id, "version": master.version},
            {"$set": {"exdates": exdates, "updatedAt": now}, "$inc": {"version": 1, "sequence": 1}},
        )

    async def archivable(self, cutoff: datetime, limit: int) -> list[EventRecord]:
        """Single events and whole series that ended by `cutoff` (exceptions go with their series)."""
        return await self.find(
            {"rangeEnd": {"$lte": cutoff}, "recurrenceMasterId": None}, sort=[("id", 1)], limit=limit
        )

    async def exceptions_of(self, master_id: str) -> list[EventRecord]:
        return await self.find({"recurrenceMasterId": master_id})

    async def by_uid(self, calendar_id: str, uid: str, original_key: str = "-") -> EventRecord | None:
        return await self.find_one({"calendarId": calendar_id, "uid": uid, "originalKey": original_key})

    async def iterate_calendar(self, calendar_id: str) -> AsyncIterator[EventRecord]:
        async for event in self.iterate({"calendarId": calendar_id}, sort=[("startTime", 1), ("id", 1)]):
            yield event


class CategoryRepository(Repository[CategoryRecord]):
    collection_name = "calendar_categories"
    model = CategoryRecord

    async def visible_to(self, user_id: str) -> list[CategoryRecord]:
        return await self.find(
            {"scope": {"$in": [user_scope(user_id), GLOBAL_SCOPE]}}, sort=[("nameLower", 1)], limit=1000
        )

    async def bump_usage(self, category_id: str | None, delta: int) -> None:
        if category_id:
            await self.coll.update_one({"id": category_id}, {"$inc": {"usageCount": delta}})


class LocationRepository(Repository[LocationRecord]):
    collection_name = "calendar_locations"
    model = LocationRecord

    async def visible_to(self, user_id: str) -> list[LocationRecord]:
        return await self.find(
            {"scope": {"$in": [user_scope(user_id), GLOBAL_SCOPE]}}, sort=[("nameLower", 1)], limit=1000
        )

    async def nearby(
        self, user_id: str, lng: float, lat: float, max_meters: float, limit: int
    ) -> list[tuple[LocationRecord, float]]:
        flt: dict[str, Any] = {"scope": {"$in": [user_scope(user_id), GLOBAL_SCOPE]}, "isActive": True}
        found = await self.coll.near("geo", lng, lat, max_meters=max_meters, flt=flt, limit=limit)
        return [(self.model.model_validate(doc), distance) for doc, distance in found]

    async def bump_usage(self, location_id: str | None, delta: int) -> None:
        if location_id:
            await self.coll.update_one({"id": location_id}, {"$inc": {"usageCount": delta}})


class SyncLogRepository(Repository[SyncLogRecord]):
    collection_name = "calendar_sync_logs"
    model = SyncLogRecord

    async def for_calendar(self, calendar_id: str, limit: int) -> list[SyncLogRecord]:
        return await self.find({"calendarId": calendar_id}, sort=[("startedAt", -1)], limit=limit)


class ExportRepository(Repository[ExportRecord]):
    collection_name = "calendar_exports"
    model = ExportRecord

    async def record_outcome(self, export_id: str, owner: str | None, fields: dict[str, Any]) -> ExportRecord | None:
        """Store an export's outcome and drop its lease; with `owner`, only while that worker holds it."""
        flt: dict[str, Any] = {"id": export_id, **({"leaseOwner": owner} if owner else {})}
        return await self.update(flt, {"$set": fields, "$unset": {"leaseOwner": "", "leaseUntil": ""}})

    async def recent(self, limit: int) -> list[ExportRecord]:
        return await self.find({}, sort=[("createdAt", -1)], limit=limit)


class ReminderRepository:
    """Each event's one pending reminder (`calendar_reminders`), the items of the reminder lease queue."""

    def __init__(self, store: DocumentStore) -> None:
        self.coll = store.collection("calendar_reminders")

    def lease_queue(self, spec: LeaseSpec, *, lease_seconds: float) -> LeaseQueue:
        return LeaseQueue(self.coll, spec, lease_seconds=lease_seconds)

    async def plan(self, event_id: str, fields: dict[str, Any]) -> None:
        """(Re)plan the event's reminder as a fresh pending item: no lease, no error, no attempts."""
        await self.coll.update_one(
            {"eventId": event_id},
            {"$set": {**fields, "status": "pending", "attempts": 0},
             "$unset": {"leaseOwner": "", "leaseUntil": "", "lastError": ""}},
            upsert=True,
        )  # fmt: skip

    async def cancel(self, event_id: str) -> int:
        return await self.coll.delete_many({"eventId": event_id})


class EventArchiveRepository:
    """Archived events (`calendar_events_archive`), kept as the documents they were."""

    def __init__(self, store: DocumentStore) -> None:
        self.coll = store.collection("calendar_events_archive")

    async def put(self, record: EventRecord, archived_at: datetime) -> None:
        """Copy an event in; a copy left by a run that stopped before deleting the original is kept."""
        with contextlib.suppress(DuplicateKeyError):
            await self.coll.insert_one({**record.to_doc(), "archivedAt": archived_at})

    async def page(self, calendar_id: str | None, *, limit: int, offset: int) -> list[EventRecord]:
        """Archived events (of one calendar, or all), in start order."""
        flt = {"calendarId": calendar_id} if calendar_id else {}
        docs = await self.coll.find(flt, sort=[("startTime", 1), ("id", 1)], limit=limit, skip=offset)
        return [EventRecord.model_validate(d) for d in docs]
