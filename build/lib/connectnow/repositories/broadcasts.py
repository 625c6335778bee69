"""Scheduled messages, their deliveries (the lease queue's items) and per-user webhook settings."""

from __future__ import annotations

from typing import Any

from connectnow.repositories.base import Repository
from models.broadcasts import DeliveryRecord, DeliveryStatus, ScheduledRecord, ScheduleStatus, WebhookRecord

ACTIVE_SCHEDULE = [ScheduleStatus.PENDING.value, ScheduleStatus.SENDING.value]


class ScheduledRepository(Repository[ScheduledRecord]):
    collection_name = "scheduled_messages"
    model = ScheduledRecord

    async def owned(self, user_id: str, scheduled_id: str) -> ScheduledRecord | None:
        return await self.find_one({"id": scheduled_id, "userId": user_id})

    async def active_for_target(self, user_id: str, target_key: str) -> int:
        return await self.count({"userId": user_id, "targetKey": target_key, "status": {"$in": ACTIVE_SCHEDULE}})

    async def page(self, flt: dict[str, Any], limit: int, offset: int) -> tuple[list[ScheduledRecord], int]:
        sort = [("scheduledFor", 1), ("id", 1)]
        return await self.find(flt, sort=sort, limit=limit, skip=offset), await self.count(flt)


class DeliveryRepository(Repository[DeliveryRecord]):
    collection_name = "broadcast_deliveries"
    model = DeliveryRecord

    async def of_source(self, source_id: str) -> list[DeliveryRecord]:
        return await self.find({"sourceId": source_id}, sort=[("createdAt", 1), ("id", 1)])

    async def status_counts(self, source_id: str) -> dict[str, int]:
        counted = await self.coll.count_by({"sourceId": source_id}, "status")
        return {str(k): v for k, v in counted.items()}

    async def cancel_pending(self, source_id: str) -> int:
        return await self.update_many(
            {"sourceId": source_id, "status": DeliveryStatus.PENDING.value},
            {"$set": {"status": DeliveryStatus.CANCELLED.value}},
        )

    async def reschedule_pending(self, source_id: str, when: Any) -> int:
        return await self.update_many(
            {"sourceId": source_id, "status": DeliveryStatus.PENDING.value},
            {"$set": {"scheduledFor": when, "dueAt": when}},
        )


class WebhookRepository(Repository[WebhookRecord]):
    collection_name = "broadcast_webhooks"
    model = WebhookRecord

    async def of_user(self, user_id: str) -> WebhookRecord | None:
        return await self.find_one({"userId": user_id})
