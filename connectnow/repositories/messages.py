"""Channel messages (through the generic MessageLog) and reactions."""

from __future__ import annotations

from collections import defaultdict

from connectnow.repositories.base import Repository
from connectnow.repositories.message_log import MessageLog, RepairHook
from connectnow.store.port import DocumentStore
from models.messages import MessageRecord, ReactionRecord, ReactionSummary


def channel_log(store: DocumentStore, on_repair: RepairHook | None = None) -> MessageLog[MessageRecord]:
    return MessageLog(
        store, MessageRecord, collection="messages", conversation_field="channelId", scope="channel",
        on_repair=on_repair,
    )  # fmt: skip


class ReactionRepository(Repository[ReactionRecord]):
    collection_name = "message_reactions"
    model = ReactionRecord

    async def summaries(self, message_ids: list[str]) -> dict[str, list[ReactionSummary]]:
        """Per message: each emoji with its count and who reacted, in first-reaction order."""
        if not message_ids:
            return {}
        rows = await self.find({"messageId": {"$in": sorted(set(message_ids))}}, sort=[("createdAt", 1)])
        grouped: dict[str, dict[str, list[str]]] = defaultdict(dict)
        for row in rows:
            grouped[row.message_id].setdefault(row.emoji, []).append(row.user_id)
        return {
            mid: [ReactionSummary(emoji=e, count=len(users), user_ids=users) for e, users in emojis.items()]
            for mid, emojis in grouped.items()
        }

    async def delete_for_messages(self, message_ids: list[str]) -> int:
        return await self.delete({"messageId": {"$in": message_ids}})

    async def delete_for_channels(self, channel_ids: list[str]) -> int:
        return await self.delete({"channelId": {"$in": channel_ids}})

    async def remove(self, message_id: str, user_id: str, emoji: str) -> bool:
        return await self.delete({"messageId": message_id, "userId": user_id, "emoji": emoji}) > 0
