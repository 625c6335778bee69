"""Storage for ICS subscriptions."""

from __future__ import annotations

from datetime import datetime

from connectnow.repositories.base import Repository
from models.calendar_subscriptions import SubscriptionRecord, SubscriptionStatus


class SubscriptionRepository(Repository[SubscriptionRecord]):
    collection_name = "calendar_subscriptions"
    model = SubscriptionRecord

    async def owned(self, user_id: str, subscription_id: str) -> SubscriptionRecord | None:
        return await self.find_one({"id": subscription_id, "userId": user_id})

    async def of_user(self, user_id: str, limit: int) -> list[SubscriptionRecord]:
        return await self.find({"userId": user_id}, sort=[("createdAt", 1)], limit=limit)

    async def due_now_if_active(self, subscription_id: str, now: datetime) -> SubscriptionRecord | None:
        """An ACTIVE subscription fetched at the next scheduler round; None when it is not active."""
        return await self.update(
            {"id": subscription_id, "status": SubscriptionStatus.ACTIVE.value}, {"$set": {"nextFetchAt": now}}
        )
