"""Leased work items: the one claim-with-lease mechanism for every background job in ConnectNow.

A due item is claimed atomically (MongoDB `find_one_and_update`; on SQLite a single conditional UPDATE
inside BEGIN IMMEDIATE), so several workers or processes never take the same item. The claim stamps an
owner and a lease deadline; a worker that crashes holding a lease simply lets it expire, and the next
claim takes the item over. Finishing or rescheduling is conditional on still owning the lease, so a
worker whose lease was taken over cannot overwrite the new owner's result.

Scheduled messages, study-book deliveries, worker jobs and event reminders all use this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectnow.clock import utcnow
from connectnow.realtime.tasks import raise_if_cancelling, stop_task
from connectnow.store.port import Document, DocumentCollection

log = logging.getLogger("connectnow.leases")

# The shortest sleep between rounds: an item the loop's timer wakes for a hair early is claimed on the next
# round instead of spinning.
MIN_SLEEP_SECONDS = 0.001


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


def backoff_delay(attempt: int, *, base_seconds: float, cap_seconds: float) -> float:
    """Exponential backoff with "equal jitter" (AWS architecture blog): uniform in [c/2, c], where
    c = min(cap, base * 2^(attempt-1)); the lower half keeps retries from bunching near zero."""
    ceiling = min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


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


ItemHandler = Callable[[Document, str], Awaitable[None]]


class LeaseWorker:
    """A background loop: claim due items and hand each to `handler(item, worker_id)`.

    The handler must finish or reschedule the item through the queue. A handler that raises leaves the
    lease to expire, so the item is retried after `lease_seconds`.

    Between rounds the worker sleeps until the earliest ready item falls due, at most `poll_seconds` (the
    fallback that notices items written by another process and leases that expired), and `wake()` cuts the
    sleep short after a write that may have made something due sooner.
    """

    def __init__(self, name: str, queue: LeaseQueue, handler: ItemHandler, *, poll_seconds: float = 1.0) -> None:
        self.name = name
        self.queue = queue
        self.handler = handler
        self.poll_seconds = poll_seconds
        self.worker_id = worker_identity()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.processed = 0
        self.failures = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease-worker-{self.name}")

    def wake(self) -> None:
        """Look for due items now (after a write that may have made one due)."""
        self._wake.set()

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def run_once(self) -> int:
        """Drain what is due now; returns how many items were handled."""
        handled = 0
        while (item := await self.queue.claim(self.worker_id)) is not None:
            try:
                await self.handler(item, self.worker_id)
                self.processed += 1
            except Exception:
                raise_if_cancelling()
                self.failures += 1
                log.exception(
                    "%s: handling %s failed; its lease will expire and it will be retried",
                    self.name,
                    item["id"],
                )
            handled += 1
        return handled

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("%s: claim loop failed; retrying", self.name)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=await self._sleep_seconds())

    async def _sleep_seconds(self) -> float:
        """Until the next due item, capped by the poll interval; never a busy loop."""
        try:
            due = await self.queue.next_due()
        except Exception:
            raise_if_cancelling()
            log.exception("%s: looking up the next due time failed; polling", self.name)
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        wait = (due - utcnow()).total_seconds()
        return min(self.poll_seconds, max(MIN_SLEEP_SECONDS, wait))
