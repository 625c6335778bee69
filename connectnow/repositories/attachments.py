"""Attachments: uploads, and their one-time claim by a message."""

from __future__ import annotations

from datetime import datetime

from connectnow.repositories.base import Repository
from models.attachments import AttachmentRecord, ConversationKind


class AttachmentRepository(Repository[AttachmentRecord]):
    collection_name = "attachments"
    model = AttachmentRecord

    async def claim(
        self,
        attachment_id: str,
        uploader_id: str,
        *,
        kind: ConversationKind,
        conversation_id: str,
        message_field: str,
        message_id: str,
        now: datetime,
    ) -> AttachmentRecord | None:
        """Attach an unattached upload of `uploader_id`; None when it is foreign, unknown or taken."""
        return await self.update(
            {"id": attachment_id, "uploaderId": uploader_id, "conversationKind": None},
            {
                "$set": {
                    "conversationKind": kind.value,
                    "conversationId": conversation_id,
                    message_field: message_id,
                    "attachedAt": now,
                }
            },
        )

    async def release(self, attachment_id: str, message_field: str, message_id: str) -> None:
        """Undo a claim made for `message_id` (when a sibling claim of the same message failed)."""
        await self.update(
            {"id": attachment_id, message_field: message_id},
            {"$set": {"conversationKind": None, "conversationId": None, message_field: None, "attachedAt": None}},
        )

    async def for_message(self, message_field: str, message_id: str) -> list[AttachmentRecord]:
        return await self.find({message_field: message_id}, sort=[("createdAt", 1)])

    async def in_conversation(self, kind: ConversationKind, conversation_id: str, limit: int) -> list[AttachmentRecord]:
        return await self.find({"conversationKind": kind.value, "conversationId": conversation_id}, limit=limit)

    async def unattached_before(self, cutoff: datetime, limit: int) -> list[AttachmentRecord]:
        return await self.find({"conversationKind": None, "createdAt": {"$lt": cutoff}}, limit=limit)
