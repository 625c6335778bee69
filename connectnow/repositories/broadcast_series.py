"""Storage for recurring broadcasts and their occurrences; filters with operators stay here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectnow.repositories.base import Repository
from connectnow.repositories.broadcasts import ScheduledRepository
from models.broadcast_series import SeriesRecord, SeriesStatus
from models.broadcasts import ScheduledRecord, ScheduleStatus

LIVE = [SeriesStatus.ACTIVE.value, SeriesStatus.ADVANCING.value]


class SeriesRepository(Repository[SeriesRecord]):
    collection_name = "broadcast_series"
    model = SeriesRecord

    async def owned(self, user_id: str, series_id: str) -> SeriesRecord | None:
        return await self.find_one({"id": series_id, "userId": user_id})

    async def of_user(self, user_id: str, limit: int) -> list[SeriesRecord]:
        return await self.find({"userId": user_id}, sort=[("createdAt", -1), ("id", 1)], limit=limit)

    async def live_count(self, user_id: str) -> int:
        return await self.count({"userId": user_id, "status": {"$in": [*LIVE, SeriesStatus.PAUSED.value]}})

    async def set_status(
        self, series_id: str, from_statuses: list[str], changes: dict[str, Any], unset: list[str] | None = None
    ) -> SeriesRecord | None:
        """Move a series out of one of `from_statuses` (a running scheduler's lease is dropped with it)."""
        update: dict[str, Any] = {
            "$set": changes,
            "$unset": {f: "" for f in ["leaseOwner", "leaseUntil", *(unset or [])]},
        }
        return await self.update({"id": series_id, "status": {"$in": from_statuses}}, update)

    async def still_running(self, series_id: str, owner: str) -> bool:
        found = await self.coll.find_one({"id": series_id, "status": SeriesStatus.ADVANCING.value, "leaseOwner": owner})
        return found is not None


class OccurrenceRepository(ScheduledRepository):
    """The scheduled messages a series made (`seriesId`)."""

    async def of_series(self, series_id: str, limit: int) -> list[ScheduledRecord]:
        return await self.find({"seriesId": series_id}, sort=[("scheduledFor", 1), ("id", 1)], limit=limit)

    async def cancel_if_pending(self, occurrence_id: str, now: datetime) -> ScheduledRecord | None:
        """CANCELLED if still PENDING (a send that already began is left alone); None when it was not pending."""
        return await self.update(
            {"id": occurrence_id, "status": ScheduleStatus.PENDING.value},
            {"$set": {"status": ScheduleStatus.CANCELLED.value, "updatedAt": now}},
        )

    async def pending_of_series(self, series_id: str) -> list[ScheduledRecord]:
        return await self.find({"seriesId": series_id, "status": ScheduleStatus.PENDING.value})

    async def earliest_pending(self, series_id: str, after: datetime) -> ScheduledRecord | None:
        flt = {"seriesId": series_id, "status": ScheduleStatus.PENDING.value, "scheduledFor": {"$gte": after}}
        return await self.find_one(flt, sort=[("scheduledFor", 1)])
