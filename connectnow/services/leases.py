"""Leased work items: the worker loop over a lease queue (connectnow/repositories/leases.py).

The queue (claim, renew, finish, retry) is storage work and lives with the repositories; this module runs
it: a LeaseWorker claims due items and hands each to its handler, and `backoff_delay` spaces retries.

Scheduled messages, study-book deliveries, worker jobs, event reminders, moderation purges and channel and
workspace deletions all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable

from connectnow.clock import utcnow
from connectnow.realtime.tasks import raise_if_cancelling, stop_task
from connectnow.repositories.leases import LeaseQueue, LeaseSpec, as_instant
from connectnow.store.port import Document

__all__ = ["LeaseQueue", "LeaseSpec", "LeaseWorker", "as_instant", "backoff_delay", "worker_identity"]

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
