"""Moderation records of deleted channel messages, and reports of messages."""

from __future__ import annotations

from connectnow.repositories.base import Repository
from models.moderation import ModerationRecord, ReportRecord


class ModerationRepository(Repository[ModerationRecord]):
    collection_name = "moderation_records"
    model = ModerationRecord

    async def delete_for_channel(self, channel_id: str) -> int:
        return await self.delete({"channelId": channel_id})


class ReportRepository(Repository[ReportRecord]):
    collection_name = "message_reports"
    model = ReportRecord

    async def delete_for_channel(self, channel_id: str) -> int:
        return await self.delete({"channelId": channel_id})
