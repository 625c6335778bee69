"""Archiving old events (seed 004): an administrator moves events that ended before a day out of the live
collection into `calendar_events_archive`, so range queries, conflicts and feeds stop carrying them.

Single events and whole series whose last instance ended before the cut-off move, a series with its
exceptions; an exception of a series that goes on stays with it. Each event is copied first and deleted
after, so a crash in between leaves a copy in both places, which the next run completes (the copy already
there is recognised by its id). Reminders of archived events go; usage counts are rebuilt.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.repositories.calendar import EventArchiveRepository, EventRepository, ReminderRepository
from connectnow.services.auth import Principal
from connectnow.services.calendar.catalog import CatalogService
from connectnow.store.port import DocumentStore
from models.calendar_events import EventPublic, EventRecord

BATCH = 500


class ArchiveService:
    def __init__(self, store: DocumentStore, catalog: CatalogService) -> None:
        self.events = EventRepository(store)
        self.archive = EventArchiveRepository(store)
        self.reminders = ReminderRepository(store)
        self.catalog = catalog

    @staticmethod
    def _require_admin(principal: Principal) -> None:
        if not principal.user.is_admin:
            raise AppError(errors.ADMIN_REQUIRED)

    async def archive_before(self, principal: Principal, before: date) -> dict[str, Any]:
        self._require_admin(principal)
        cutoff = datetime.combine(before, time(0), UTC)
        if cutoff > utcnow():
            raise AppError(errors.VALIDATION_FAILED, "Only events that already ended can be archived")
        moved = 0
        while batch := await self.events.archivable(cutoff, BATCH):
            for record in batch:
                for exception in await self.events.exceptions_of(record.id):
                    moved += await self._move(exception)
                moved += await self._move(record)
        counts = await self.catalog.recount()
        return {"archived": moved, "before": before.isoformat(), "usageCountsFixed": counts["fixed"]}

    async def _move(self, record: EventRecord) -> int:
        await self.archive.put(record, utcnow())  # copied by a run that stopped before deleting: finish it
        await self.reminders.cancel(record.id)
        return 1 if await self.events.delete_id(record.id) else 0

    async def list_archived(
        self, principal: Principal, calendar_id: str | None, limit: int, offset: int
    ) -> list[EventPublic]:
        self._require_admin(principal)
        found = await self.archive.page(calendar_id, limit=limit, offset=offset)
        return [EventPublic.model_validate(r, from_attributes=True) for r in found]
