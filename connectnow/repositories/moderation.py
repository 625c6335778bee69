"""Moderation records of deleted channel messages, and reports of messages."""

from __future__ import annotations

from datetime import datetime

from connectnow.repositories.base import Repository
from models.moderation import ModerationRecord, ReportRecord


class ModerationRepository(Repository[ModerationRecord]):
    collection_name = "moderation_records"
    model = ModerationRecord

    async def delete_for_channel(self, channel_id: str) -> int:
        return await self.delete({"channelId": channel_id})

    async def live_for_message(self, message_id: str) -> ModerationRecord | None:
        """The message's record unless its retention ended (purged)."""
        return await self.find_one({"messageId": message_id, "status": {"$ne": "purged"}})

    async def live_in_workspace(self, workspace_id: str, *, limit: int) -> list[ModerationRecord]:
        flt = {"workspaceId": workspace_id, "status": {"$ne": "purged"}}
        return await self.find(flt, sort=[("deletedAt", -1)], limit=limit)


class ReportRepository(Repository[ReportRecord]):
    collection_name = "message_reports"
    model = ReportRecord

    async def resolve(self, report_id: str, by: str, at: datetime) -> ReportRecord | None:
        """Resolve an open report; None when it was resolved already."""
        done = {"status": "resolved", "resolvedBy": by, "resolvedAt": at}
        return await self.update({"id": report_id, "status": "open"}, {"$set": done})

    async def delete_for_channel(self, channel_id: str) -> int:
        return await self.delete({"channelId": channel_id})
