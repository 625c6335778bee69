"""Channels and channel members."""

from __future__ import annotations

from datetime import datetime

from connectnow.repositories.base import Repository
from models.channels import ChannelMemberRecord, ChannelRecord


class ChannelRepository(Repository[ChannelRecord]):
    collection_name = "channels"
    model = ChannelRecord

    async def in_workspace(self, workspace_id: str) -> list[ChannelRecord]:
        return await self.find({"workspaceId": workspace_id}, sort=[("position", 1), ("nameLower", 1)])

    async def in_workspaces(self, workspace_ids: list[str]) -> list[ChannelRecord]:
        if not workspace_ids:
            return []
        return await self.find({"workspaceId": {"$in": sorted(set(workspace_ids))}})

    async def default_of(self, workspace_id: str) -> ChannelRecord | None:
        return await self.find_one({"workspaceId": workspace_id, "isDefault": True})

    async def remove(self, channel_id: str) -> bool:
        return await self.delete({"id": channel_id}) > 0

    async def last_position(self, workspace_id: str) -> int:
        last = await self.find_one({"workspaceId": workspace_id}, sort=[("position", -1)])
        return last.position if last else -1

    async def by_ids(self, ids: list[str]) -> list[ChannelRecord]:
        return await self.find({"id": {"$in": sorted(set(ids))}}) if ids else []


class ChannelMemberRepository(Repository[ChannelMemberRecord]):
    collection_name = "channel_members"
    model = ChannelMemberRecord

    async def of(self, channel_id: str, user_id: str) -> ChannelMemberRecord | None:
        return await self.find_one({"channelId": channel_id, "userId": user_id})

    async def in_channel(self, channel_id: str, *, limit: int = 10_000) -> list[ChannelMemberRecord]:
        return await self.find({"channelId": channel_id}, sort=[("joinedAt", 1)], limit=limit)

    async def for_user(self, user_id: str, workspace_id: str | None = None) -> list[ChannelMemberRecord]:
        flt: dict[str, str] = {"userId": user_id}
        if workspace_id is not None:
            flt["workspaceId"] = workspace_id
        return await self.find(flt)

    async def remove(self, channel_id: str, user_id: str) -> bool:
        return await self.delete({"channelId": channel_id, "userId": user_id}) > 0

    async def remove_from_workspace(self, workspace_id: str, user_id: str) -> int:
        return await self.delete({"workspaceId": workspace_id, "userId": user_id})

    async def of_users(self, channel_id: str, user_ids: list[str]) -> list[ChannelMemberRecord]:
        return await self.find({"channelId": channel_id, "userId": {"$in": user_ids}})

    async def advance_read(
        self, channel_id: str, user_id: str, seq: int, message_id: str, at: datetime
    ) -> ChannelMemberRecord | None:
        """Move the read pointer forward only (two devices marking read out of order never move it back);
        None when it was already at or past `seq`."""
        return await self.update(
            {"channelId": channel_id, "userId": user_id, "lastReadSeq": {"$lt": seq}},
            {"$set": {"lastReadSeq": seq, "lastReadMessageId": message_id, "lastReadAt": at}},
        )

    async def read_at_least(self, channel_id: str, seq: int, *, limit: int = 1000) -> list[ChannelMemberRecord]:
        return await self.find({"channelId": channel_id, "lastReadSeq": {"$gte": seq}}, limit=limit)

    async def delete_for_channel(self, channel_id: str) -> int:
        return await self.delete({"channelId": channel_id})

    async def delete_for_workspace(self, workspace_id: str) -> int:
        return await self.delete({"workspaceId": workspace_id})
