"""Storage for the mail outbox; the filters with operators live here, not in the service."""

from __future__ import annotations

from datetime import datetime

from connectnow.repositories.base import Repository
from models.mail import MailRecord, MailStatus


class MailOutboxRepository(Repository[MailRecord]):
    collection_name = "mail_outbox"
    model = MailRecord

    async def about(self, subject_key: str, limit: int) -> list[MailRecord]:
        return await self.find({"subjectKey": subject_key}, sort=[("createdAt", 1)], limit=limit)

    async def queued_by_since(self, sender_id: str, since: datetime) -> int:
        return await self.count({"senderId": sender_id, "createdAt": {"$gte": since}})

    async def mark_sent(self, mail_id: str, owner: str, now: datetime) -> bool:
        """Sent: drop the body and parts (their signed links), keep the record of delivery."""
        return await self.coll.update_one(
            {"id": mail_id, "status": MailStatus.SENDING.value, "leaseOwner": owner},
            {
                "$set": {"status": MailStatus.SENT.value, "sentAt": now},
                "$unset": {"body": "", "parts": "", "lastError": "", "leaseOwner": "", "leaseUntil": ""},
            },
        )
