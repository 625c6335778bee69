"""Scheduled messages, their deliveries (the lease queue's items) and per-user webhook settings."""

from __future__ import annotations

from datetime import datetime
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

    async def page(
        self,
        user_id: str,
        *,
        status: str | None,
        start: datetime | None,
        end: datetime | None,
        target_key: str | None,
        target_kind: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[ScheduledRecord], int]:
        """A page of the user's scheduled messages due in [start, end), in due order, and how many match."""
        flt: dict[str, Any] = {"userId": user_id}
        if status is not None:
            flt["status"] = status
        window = {op: at for op, at in (("$gte", start), ("$lt", end)) if at is not None}
        if window:
            flt["scheduledFor"] = window
        if target_key is not None:
            flt["targetKey"] = target_key
        elif target_kind is not None:
            flt["target.kind"] = target_kind
        sort = [("scheduledFor", 1), ("id", 1)]
        return await self.find(flt, sort=sort, limit=limit, skip=offset), await self.count(flt)

    async def change_pending(self, scheduled_id: str, user_id: str, fields: dict[str, Any]) -> ScheduledRecord | None:
        """Change one of the user's scheduled messages while it is still pending (None otherwise)."""
        flt = {"id": scheduled_id, "userId": user_id, "status": ScheduleStatus.PENDING.value}
        return await self.update(flt, {"$set": fields})

    async def start_sending(self, scheduled_id: str, now: datetime) -> ScheduledRecord | None:
        """pending (or sending already) -> sending: from here on, cancelling is refused."""
        flt = {"id": scheduled_id, "status": {"$in": ACTIVE_SCHEDULE}}
        return await self.update(flt, {"$set": {"status": ScheduleStatus.SENDING.value, "updatedAt": now}})

    async def finish_active(self, scheduled_id: str, fields: dict[str, Any]) -> ScheduledRecord | None:
        """Record the outcome of a message still pending or sending (None when it was cancelled meanwhile)."""
        return await self.update({"id": scheduled_id, "status": {"$in": ACTIVE_SCHEDULE}}, {"$set": fields})


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

    async def set_for_user(self, user_id: str, fields: dict[str, Any]) -> WebhookRecord | None:
        return await self.update({"userId": user_id}, {"$set": fields})

    async def of_user(self, user_id: str) -> WebhookRecord | None:
        return await self.find_one({"userId": user_id})
