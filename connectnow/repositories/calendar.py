"""Calendar repositories (seed 004): named queries over the calendar collections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from connectnow.repositories.base import Repository
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


class CalendarRepository(Repository[CalendarRecord]):
    collection_name = "calendars"
    model = CalendarRecord

    async def for_user(self, user_id: str) -> list[CalendarRecord]:
        return await self.find({"userId": user_id}, sort=[("createdAt", 1)])

    async def by_feed_hash(self, token_hash: str) -> CalendarRecord | None:
        return await self.find_one({"feedTokenHash": token_hash})

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

    async def recent(self, limit: int) -> list[ExportRecord]:
        return await self.find({}, sort=[("createdAt", -1)], limit=limit)
