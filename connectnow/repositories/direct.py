"""Direct conversations and their messages (through the shared MessageLog)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from connectnow.repositories.base import Repository
from connectnow.repositories.message_log import MessageLog, RepairHook
from connectnow.store.port import DocumentStore
from models.direct import DirectConversationRecord, DirectMessageRecord, UserBlockRecord


def direct_log(store: DocumentStore, on_repair: RepairHook | None = None) -> MessageLog[DirectMessageRecord]:
    return MessageLog(
        store, DirectMessageRecord, collection="direct_messages", conversation_field="conversationId", scope="dm",
        on_repair=on_repair,
    )  # fmt: skip


def ordered_pair(user_1: str, user_2: str) -> tuple[str, str]:
    """The seed's rule: the smaller id is user A."""
    return (user_1, user_2) if user_1 < user_2 else (user_2, user_1)


class DirectConversationRepository(Repository[DirectConversationRecord]):
    collection_name = "direct_conversations"
    model = DirectConversationRecord

    async def of_pair(self, user_1: str, user_2: str) -> DirectConversationRecord | None:
        a, b = ordered_pair(user_1, user_2)
        return await self.find_one({"userAId": a, "userBId": b})

    async def for_user(
        self, user_id: str, *, limit: int, before: datetime | None, before_id: str | None = None
    ) -> list[DirectConversationRecord]:
        """Newest activity first; a page starts after (before, before_id), so equal timestamps never skip."""
        mine: dict[str, Any] = {"$or": [{"userAId": user_id}, {"userBId": user_id}]}
        flt: dict[str, Any] = mine
        if before is not None:
            older: list[dict[str, Any]] = [{"lastMessageAt": {"$lt": before}}]
            if before_id is not None:
                older.append({"lastMessageAt": before, "id": {"$lt": before_id}})
            flt = {"$and": [mine, {"$or": older}]}
        return await self.find(flt, sort=[("lastMessageAt", -1), ("id", -1)], limit=limit)

    def iterate_for(self, user_id: str) -> AsyncIterator[DirectConversationRecord]:
        return self.iterate({"$or": [{"userAId": user_id}, {"userBId": user_id}]})

    async def touch(self, conversation_id: str, seq: int, at: datetime) -> DirectConversationRecord | None:
        """A new message: move lastMessageAt/lastMessageSeq forward (never back, whatever the order)."""
        return await self.update(
            {"id": conversation_id},
            {"$max": {"lastMessageAt": at, "lastMessageSeq": seq}, "$set": {"updatedAt": at}},
        )

    async def advance_read(self, conversation: DirectConversationRecord, user_id: str, seq: int) -> None:
        field = "aLastReadSeq" if user_id == conversation.user_a_id else "bLastReadSeq"
        await self.update({"id": conversation.id}, {"$max": {field: seq}})


class DirectMessageRepository(Repository[DirectMessageRecord]):
    collection_name = "direct_messages"
    model = DirectMessageRecord

    async def mark_read(self, conversation_id: str, reader_id: str, up_to_seq: int, at: datetime) -> int:
        """Mark the other member's messages up to `up_to_seq` read by `reader_id`; returns how many changed."""
        return await self.update_many(
            {
                "conversationId": conversation_id,
                "recipientId": reader_id,
                "isRead": False,
                "seq": {"$lte": up_to_seq},
            },
            {"$set": {"isRead": True, "readAt": at}},
        )

    async def last_messages(self, conversations: list[DirectConversationRecord]) -> dict[str, DirectMessageRecord]:
        """The latest message of each conversation, in one query."""
        wanted = [{"conversationId": c.id, "seq": c.last_message_seq} for c in conversations if c.last_message_seq]
        if not wanted:
            return {}
        return {m.conversation_id: m for m in await self.find({"$or": wanted})}

    async def unread_counts(self, conversation_ids: list[str], reader_id: str) -> dict[str, int]:
        if not conversation_ids:
            return {}
        counts = await self.coll.count_by(
            {
                "conversationId": {"$in": conversation_ids},
                "recipientId": reader_id,
                "isRead": False,
                "isDeleted": False,
                "seq": {"$exists": True},
            },
            "conversationId",
        )
        return {str(k): int(v) for k, v in counts.items()}


class UserBlockRepository(Repository[UserBlockRecord]):
    collection_name = "user_blocks"
    model = UserBlockRecord

    async def between(self, a: str, b: str) -> bool:
        """A block either way."""
        pairs = [{"blockerId": a, "blockedId": b}, {"blockerId": b, "blockedId": a}]
        return await self.find_one({"$or": pairs}) is not None
