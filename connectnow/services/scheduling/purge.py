"""purge-sensitive: delete what the retention rules say is due, and nothing else.

- context summaries whose `expiresAt` has passed (per-user retention, default 90 days);
- form responses whose `retainUntil` has passed (form_retention_days after the meeting ends or is closed);
- bookings' encrypted intake data on the same rule (the booking itself stays, without its intake);
- audit log lines older than audit_retention_days.
"""

from __future__ import annotations

from typing import Any

from connectnow.clock import utcnow
from connectnow.repositories.scheduling import BookingRepository, FormResponseRepository, SummaryRepository
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.retention import Retention
from connectnow.store.port import DocumentStore
from models.scheduling_ops import JobRecord


class PurgeService:
    def __init__(self, store: DocumentStore, audit: AuditService, retention: Retention) -> None:
        self.summaries = SummaryRepository(store)
        self.responses = FormResponseRepository(store)
        self.bookings = BookingRepository(store)
        self.audit = audit
        self.retention = retention

    async def purge(self) -> dict[str, int]:
        now = utcnow()
        cutoff = now - (await self.retention.current()).form
        intake = await self.bookings.purge_intake(cutoff, now)
        counts = {
            "summaries": await self.summaries.purge_expired(now),
            "formResponses": await self.responses.expired(now),
            "intakeData": intake,
            "auditLogs": await self.audit.purge(now),
        }
        await self.audit.record(None, "sensitive.purge", "retention", metadata=counts)
        return counts

    async def job(self, job: JobRecord) -> dict[str, Any]:
        return dict(await self.purge())
