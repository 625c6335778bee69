"""Waking every worker's delivery scheduler when a schedule is created or changed.

Each scheduler sleeps until the earliest pending delivery falls due (`LeaseWorker`), so a schedule written on
this worker wakes this worker's scheduler at once. Other workers learn of it through Redis pub/sub on a
channel of its own (`{prefix}:broadcasts-wake:events`, the same `RedisBroker` the hub uses, so it reconnects
and is watched the same way); without Redis, or while Redis is down, they notice it at their next poll
(`CONNECTNOW_BROADCAST_POLL_SECONDS`). The message only says "look again": the store stays the truth.
"""

from __future__ import annotations

import logging
from typing import Any

from connectnow.config import Settings
from connectnow.realtime.broker import Broker
from connectnow.realtime.tasks import raise_if_cancelling
from connectnow.services.leases import LeaseWorker

log = logging.getLogger("connectnow.broadcasts.wake")

WAKE_OP = "wake"
WAKE_CHANNEL_SUFFIX = "broadcasts-wake"


class WakeSignal:
    def __init__(self, worker: LeaseWorker, broker: Broker | None) -> None:
        self.worker = worker
        self.broker = broker
        self.received = 0  # wake messages from the channel (this worker's own included)

    async def start(self) -> None:
        if self.broker is not None:
            await self.broker.start(self._on_message)

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("op") == WAKE_OP:
            self.received += 1
            self.worker.wake()

    async def notify(self) -> None:
        """A schedule was written: look now here, and tell the other workers to look too."""
        self.worker.wake()
        if self.broker is None:
            return
        try:
            await self.broker.publish({"op": WAKE_OP})
        except Exception:
            # The write already happened; the other workers' poll is the fallback.
            raise_if_cancelling()
            log.warning("could not tell the other workers about a new schedule; they will poll", exc_info=True)


def wake_broker(settings: Settings) -> Broker | None:
    """A Redis channel between the workers' schedulers, when the node runs with Redis."""
    if not settings.redis_url:
        return None
    from connectnow.realtime.broker_redis import RedisBroker

    return RedisBroker(settings.redis_url, f"{settings.redis_prefix}:{WAKE_CHANNEL_SUFFIX}")
