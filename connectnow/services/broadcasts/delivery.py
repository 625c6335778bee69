"""The delivery engine: the scheduler that claims due deliveries with the shared lease mechanism.

Each delivery is an item of a `LeaseQueue` over `broadcast_deliveries` (status pending -> sending ->
sent | failed | cancelled, due at `dueAt`). Several workers (or processes) never take the same delivery, and
a worker killed holding a lease lets it expire, after which another worker takes it over; the claim counts
as an attempt (`deliveryAttempts`).

Policies (documented in docs/SIDECAR-BROADCASTS.md):
- Retries: a retryable failure (timeout, connection error, HTTP 5xx/408/425/429) is tried again after
  `backoff_delay` (exponential, jittered) until `broadcast_max_attempts` attempts, then the delivery fails.
  A permanent failure (other 4xx, no webhook) fails at once.
- Lateness: measured from the promised `scheduledFor`. Up to `broadcast_late_flag_seconds` late is on time;
  later, the message is still sent but flagged `late: true`; more than `broadcast_late_grace_seconds` late
  (a server down for hours), it is not sent at all and fails with "missed its delivery window".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from connectnow.clock import utcnow
from connectnow.config import Settings
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.hub import user_room
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.broadcasts import DeliveryRepository
from connectnow.services.broadcasts.sources import Go, Skip, Source
from connectnow.services.broadcasts.transports import DeliveryFailed, Outgoing, Transport
from connectnow.services.leases import LeaseQueue, LeaseSpec, LeaseWorker, backoff_delay
from models.broadcasts import DeliveryPublic, DeliveryRecord, DeliveryStatus, SourceKind, TargetKind

log = logging.getLogger("connectnow.broadcasts")

EVENT_DELIVERY = "broadcast:delivery"
RENEWALS_PER_LEASE = 3  # renew a held lease three times per lease period while a send is in flight
DELIVERY_SPEC = LeaseSpec(
    status_field="status",
    ready_statuses=(DeliveryStatus.PENDING.value,),
    running_status=DeliveryStatus.SENDING.value,
    due_field="dueAt",
    owner_field="leaseOwner",
    lease_until_field="leaseUntil",
    attempts_field="deliveryAttempts",
)


def delivery_queue(deliveries: DeliveryRepository, settings: Settings) -> LeaseQueue:
    return deliveries.lease_queue(DELIVERY_SPEC, lease_seconds=settings.broadcast_lease_seconds)


class DeliveryEngine:
    def __init__(
        self,
        deliveries: DeliveryRepository,
        settings: Settings,
        hub: Emitter,
        sources: Mapping[SourceKind, Source],
        transports: dict[TargetKind, Transport],
    ) -> None:
        self.deliveries = deliveries
        self.users = UserRepository(deliveries.store)
        self.settings = settings
        self.hub = hub
        self.sources = sources
        self.transports = transports
        self.queue = delivery_queue(deliveries, settings)
        self.worker = LeaseWorker("broadcasts", self.queue, self.handle, poll_seconds=settings.broadcast_poll_seconds)

    async def handle(self, item: dict[str, Any], worker_id: str) -> None:
        delivery = DeliveryRecord.model_validate(item)
        now = utcnow()
        source = self.sources[delivery.source_kind]
        if delivery.delivery_attempts > self.settings.broadcast_max_attempts:
            # Only reachable when workers died holding the lease again and again.
            await self._finish(delivery, worker_id, source, DeliveryStatus.FAILED, now, "gave up: too many attempts")
            return
        lateness = (now - delivery.scheduled_for).total_seconds()
        if lateness > self.settings.broadcast_late_grace_seconds:
            reason = f"missed its delivery window ({round(lateness)} s late)"
            await self._finish(delivery, worker_id, source, DeliveryStatus.FAILED, now, reason)
            return
        owner = await self.users.get(delivery.user_id)
        if owner is None or owner.is_banned or not owner.is_active:
            # A banned, disabled or deleted account sends nothing more, by any transport.
            await self._finish(
                delivery, worker_id, source, DeliveryStatus.FAILED, now, "the sender's account is disabled"
            )
            return
        decision = await source.begin(delivery, now)
        if isinstance(decision, Skip):
            await self._skip(delivery, worker_id, source, decision, now)
            return
        await self._attempt(delivery, worker_id, source, decision, now, late=lateness > self._late_flag)

    @property
    def _late_flag(self) -> float:
        return self.settings.broadcast_late_flag_seconds

    async def _attempt(
        self, delivery: DeliveryRecord, worker_id: str, source: Source, go: Go, now: datetime, *, late: bool
    ) -> None:
        transport = self.transports.get(delivery.target.kind)
        outgoing = Outgoing(
            delivery_id=delivery.id,
            user_id=delivery.user_id,
            source_kind=delivery.source_kind.value,
            source_id=delivery.source_id,
            target=delivery.target,
            text=go.text,
            scheduled_for=delivery.scheduled_for,
            attempt=delivery.delivery_attempts,
            contact=go.contact,
        )
        try:
            if transport is None:
                raise DeliveryFailed(f"no transport for {delivery.target.kind.value} targets", retryable=False)
            await self._send_renewing(transport, outgoing, worker_id)
        except DeliveryFailed as failure:
            await self._failed(delivery, worker_id, source, failure, now)
            return
        sent_at = utcnow()
        fields = {"actualDeliveryTime": sent_at, "late": late, "deliveryError": None}
        await self._finish(delivery, worker_id, source, DeliveryStatus.SENT, now, None, fields)

    async def _send_renewing(self, transport: Transport, outgoing: Outgoing, worker_id: str) -> None:
        """Send, renewing the lease while the transport works, so a slow (but alive) send is never taken
        over and sent twice. A worker that dies stops renewing, and its lease expires as usual."""
        interval = self.settings.broadcast_lease_seconds / RENEWALS_PER_LEASE
        sending = asyncio.create_task(transport.send(outgoing))
        try:
            while True:
                done, _ = await asyncio.wait({sending}, timeout=interval)
                if done:
                    return sending.result()
                if not await self.queue.renew(outgoing.delivery_id, worker_id):
                    log.warning("delivery %s: lease lost while sending", outgoing.delivery_id)
        finally:
            if not sending.done():
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, DeliveryFailed):
                    await sending

    async def _failed(
        self, delivery: DeliveryRecord, worker_id: str, source: Source, failure: DeliveryFailed, now: datetime
    ) -> None:
        attempts = delivery.delivery_attempts
        if failure.retryable and attempts < self.settings.broadcast_max_attempts:
            delay = backoff_delay(
                attempts,
                base_seconds=self.settings.broadcast_retry_base_seconds,
                cap_seconds=self.settings.broadcast_retry_cap_seconds,
            )
            fields = {"lastDeliveryAttempt": now, "deliveryError": failure.reason}
            if await self.queue.retry_at(delivery.id, worker_id, now + timedelta(seconds=delay), fields):
                await self._changed(delivery.id, source)
            return
        await self._finish(delivery, worker_id, source, DeliveryStatus.FAILED, now, failure.reason)

    async def _skip(self, delivery: DeliveryRecord, worker_id: str, source: Source, skip: Skip, now: datetime) -> None:
        if skip.later is not None:
            # Not an attempt: give the claim's count back.
            fields = {"deliveryAttempts": max(0, delivery.delivery_attempts - 1), "scheduledFor": skip.later}
            await self.queue.retry_at(delivery.id, worker_id, skip.later, fields)
            return
        await self._finish(delivery, worker_id, source, skip.status or DeliveryStatus.CANCELLED, now, skip.reason)

    async def _finish(
        self,
        delivery: DeliveryRecord,
        worker_id: str,
        source: Source,
        status: DeliveryStatus,
        now: datetime,
        error: str | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        fields: dict[str, Any] = {"lastDeliveryAttempt": now, **(extra or {})}
        if error is not None:
            fields["deliveryError"] = error
        if not await self.queue.finish(delivery.id, worker_id, status.value, fields):
            log.warning("delivery %s: lease lost before recording %s", delivery.id, status.value)
            return
        await self._changed(delivery.id, source)

    async def _changed(self, delivery_id: str, source: Source) -> None:
        record = await self.deliveries.get(delivery_id)
        if record is None:
            return
        await source.settle(record)
        payload = {
            "sourceKind": record.source_kind.value,
            "sourceId": record.source_id,
            "delivery": DeliveryPublic.model_validate(record),
        }
        await self.hub.emit(EVENT_DELIVERY, payload, room=user_room(record.user_id))
