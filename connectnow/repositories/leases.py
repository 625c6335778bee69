"""Lease queues: the one claim-with-lease mechanism for every background job in ConnectNow.

A due item is claimed atomically (MongoDB `find_one_and_update`; on SQLite a single conditional UPDATE
inside BEGIN IMMEDIATE), so several workers or processes never take the same item. The claim stamps an
owner and a lease deadline; a worker that crashes holding a lease simply lets it expire, and the next
claim takes the item over. Finishing or rescheduling is conditional on still owning the lease, so a
worker whose lease was taken over cannot overwrite the new owner's result. The loop that runs a queue is
connectnow/services/leases.py (LeaseWorker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectnow.clock import utcnow
from connectnow.store.port import Document, DocumentCollection


@dataclass(frozen=True)
class LeaseSpec:
    """Which fields of a collection's documents drive the queue."""

    status_field: str = "status"
    ready_statuses: tuple[str, ...] = ("pending",)
    running_status: str = "running"
    due_field: str = "scheduledFor"
    owner_field: str = "leaseOwner"
    lease_until_field: str = "leaseUntil"
    attempts_field: str = "attempts"


class LeaseQueue:
    def __init__(self, coll: DocumentCollection, spec: LeaseSpec, *, lease_seconds: float) -> None:
        self.coll = coll
        self.spec = spec
        self.lease = timedelta(seconds=lease_seconds)

    async def claim(
        self, worker_id: str, *, now: datetime | None = None, extra: Mapping[str, Any] | None = None
    ) -> Document | None:
        """Take the most overdue ready item, or one whose lease expired; None when nothing is due."""
        s = self.spec
        now = now or utcnow()
        due = {s.status_field: {"$in": list(s.ready_statuses)}, s.due_field: {"$lte": now}}
        expired = {s.status_field: s.running_status, s.lease_until_field: {"$lt": now}}
        flt: dict[str, Any] = {"$or": [due, expired], **(extra or {})}
        update = {
            "$set": {
                s.status_field: s.running_status,
                s.owner_field: worker_id,
                s.lease_until_field: now + self.lease,
            },
            "$inc": {s.attempts_field: 1},
        }
        return await self.coll.find_one_and_update(flt, update, sort=[(s.due_field, 1)])

    async def next_due(self) -> datetime | None:
        """When the earliest ready item falls due (None when none is waiting): the worker sleeps until then."""
        s = self.spec
        item = await self.coll.find_one({s.status_field: {"$in": list(s.ready_statuses)}}, sort=[(s.due_field, 1)])
        return None if item is None else as_instant(item.get(s.due_field))

    def _owned(self, item_id: str, worker_id: str) -> dict[str, Any]:
        return {
            "id": item_id,
            self.spec.status_field: self.spec.running_status,
            self.spec.owner_field: worker_id,
        }

    async def renew(self, item_id: str, worker_id: str, *, now: datetime | None = None) -> bool:
        until = (now or utcnow()) + self.lease
        return await self.coll.update_one(
            self._owned(item_id, worker_id), {"$set": {self.spec.lease_until_field: until}}
        )

    async def finish(self, item_id: str, worker_id: str, status: str, fields: Mapping[str, Any] | None = None) -> bool:
        """Record the outcome, if this worker still holds the lease."""
        s = self.spec
        update = {
            "$set": {s.status_field: status, **(fields or {})},
            "$unset": {s.owner_field: "", s.lease_until_field: ""},
        }
        return await self.coll.update_one(self._owned(item_id, worker_id), update)

    async def retry_at(
        self, item_id: str, worker_id: str, when: datetime, fields: Mapping[str, Any] | None = None
    ) -> bool:
        """Give the item back, due again at `when` (a retry with backoff)."""
        s = self.spec
        update = {
            "$set": {s.status_field: s.ready_statuses[0], s.due_field: when, **(fields or {})},
            "$unset": {s.owner_field: "", s.lease_until_field: ""},
        }
        return await self.coll.update_one(self._owned(item_id, worker_id), update)


def as_instant(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back ISO text, MongoDB naive UTC datetimes)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Lease:
    """One claimed item, as its handler holds it: renew while working, finish when done."""

    queue: LeaseQueue
    item_id: str
    worker_id: str

    async def renew(self) -> bool:
        """False when the lease was taken over (the handler must stop: the new owner carries on)."""
        return await self.queue.renew(self.item_id, self.worker_id)

    async def finish(self, fields: Mapping[str, Any] | None = None, *, status: str = "done") -> bool:
        return await self.queue.finish(self.item_id, self.worker_id, status, fields)
