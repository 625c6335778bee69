"""What a delivery delivers: a scheduled message (seed scheduledMessages) or a study-book selection.

A source tells the delivery engine, once a delivery is claimed, whether to go ahead (and with which text),
and records each outcome on the user-facing record, pushing the change to the owner's sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectnow.clock import utcnow
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.hub import user_room
from connectnow.repositories.broadcasts import DeliveryRepository, ScheduledRepository
from connectnow.repositories.contacts import ContactRepository
from connectnow.repositories.studybooks import SelectionRepository
from connectnow.services.broadcasts.templates import render
from models.broadcasts import (
    DeliveryRecord,
    DeliveryStatus,
    ScheduledPublic,
    ScheduleStatus,
    TargetKind,
)
from models.contacts import ContactRecord
from models.studybooks import SelectionPublic

EVENT_SCHEDULED = "broadcast:status"
EVENT_SELECTION = "studybook:delivery"
# A message that missed its window fails without ever starting, so it may finish straight from pending.
ACTIVE = [ScheduleStatus.PENDING.value, ScheduleStatus.SENDING.value]


@dataclass(frozen=True)
class Go:
    """Deliver now, this text, to this contact (None for channels and conversations)."""

    text: str
    contact: ContactRecord | None


@dataclass(frozen=True)
class Skip:
    """Do not deliver: the source was cancelled (status) or moved to a later time (`later`)."""

    status: DeliveryStatus | None = None
    later: datetime | None = None
    reason: str | None = None  # recorded as the delivery's `deliveryError` (e.g. the contact opted out)


class Source(Protocol):
    async def begin(self, delivery: DeliveryRecord, now: datetime) -> Go | Skip: ...

    async def settle(self, delivery: DeliveryRecord) -> None:
        """The delivery record changed (attempt recorded, sent or failed): update the source and tell its owner."""
        ...


async def _contact_for(contacts: ContactRepository, delivery: DeliveryRecord) -> ContactRecord | Skip | None:
    if delivery.target.kind is not TargetKind.CONTACT:
        return None
    contact = await contacts.owned(delivery.user_id, delivery.target.id)
    # A contact deleted after scheduling cannot be reached any more: nothing to send.
    if contact is None:
        return Skip(status=DeliveryStatus.CANCELLED)
    if contact.opted_out:
        # Consent is checked again at delivery: an opt-out after scheduling still stops the message.
        return Skip(status=DeliveryStatus.CANCELLED, reason=f"the contact opted out ({contact.opt_out_reason})")
    return contact


class ScheduledSource:
    def __init__(
        self, scheduled: ScheduledRepository, deliveries: DeliveryRepository, contacts: ContactRepository, hub: Emitter
    ) -> None:
        self.scheduled = scheduled
        self.deliveries = deliveries
        self.contacts = contacts
        self.hub = hub

    async def begin(self, delivery: DeliveryRecord, now: datetime) -> Go | Skip:
        parent = await self.scheduled.get(delivery.source_id)
        if parent is None or parent.status is ScheduleStatus.CANCELLED:
            return Skip(status=DeliveryStatus.CANCELLED)
        if parent.status is ScheduleStatus.PENDING and parent.scheduled_for > now:
            return Skip(later=parent.scheduled_for)  # edited to a later time after this delivery was claimed
        # pending -> sending is the point of no return: from here on, cancelling is refused.
        started = await self.scheduled.start_sending(parent.id, now)
        if started is None:
            return Skip(status=DeliveryStatus.CANCELLED)
        if started.status is not parent.status:
            await self.hub.emit(
                EVENT_SCHEDULED, ScheduledPublic.model_validate(started), room=user_room(parent.user_id)
            )
        contact = await _contact_for(self.contacts, delivery)
        if isinstance(contact, Skip):
            return contact
        return Go(text=render(started.message, contact), contact=contact)

    async def settle(self, delivery: DeliveryRecord) -> None:
        counts = await self.deliveries.status_counts(delivery.source_id)
        if counts.get(DeliveryStatus.PENDING.value, 0) or counts.get(DeliveryStatus.SENDING.value, 0):
            return  # other recipients are still on their way
        sent = counts.get(DeliveryStatus.SENT.value, 0)
        failed = counts.get(DeliveryStatus.FAILED.value, 0)
        status = ScheduleStatus.SENT if failed == 0 and sent > 0 else ScheduleStatus.FAILED
        if sent == 0 and failed == 0:
            status = ScheduleStatus.CANCELLED
        late = await self.deliveries.count({"sourceId": delivery.source_id, "late": True}) > 0
        fields: dict[str, Any] = {
            "status": status.value,
            "delivered": sent,
            "failed": failed,
            "late": late,
            "actualDeliveryTime": utcnow() if sent else None,
            "deliveryError": delivery.delivery_error if failed else None,
            "updatedAt": utcnow(),
        }
        done = await self.scheduled.finish_active(delivery.source_id, fields)
        if done is not None:
            await self.hub.emit(EVENT_SCHEDULED, ScheduledPublic.model_validate(done), room=user_room(done.user_id))


class SelectionSource:
    """Study-book selections: one delivery each; the selection mirrors its delivery's tracking fields."""

    def __init__(self, selections: SelectionRepository, contacts: ContactRepository, hub: Emitter) -> None:
        self.selections = selections
        self.contacts = contacts
        self.hub = hub

    async def begin(self, delivery: DeliveryRecord, now: datetime) -> Go | Skip:
        selection = await self.selections.get(delivery.source_id)
        if selection is None or selection.delivery_status is DeliveryStatus.CANCELLED:
            return Skip(status=DeliveryStatus.CANCELLED)
        contact = await _contact_for(self.contacts, delivery)
        if isinstance(contact, Skip):
            return contact
        return Go(text=render(selection.content, contact), contact=contact)

    async def settle(self, delivery: DeliveryRecord) -> None:
        # The delivery's "sending" shows as "pending" here: the seed knows pending, sent, failed, cancelled.
        status = DeliveryStatus.PENDING if delivery.status is DeliveryStatus.SENDING else delivery.status
        fields = {
            "deliveryStatus": status.value,
            "deliveryAttempts": delivery.delivery_attempts,
            "lastDeliveryAttempt": delivery.last_delivery_attempt,
            "deliveryError": delivery.delivery_error,
            "actualDeliveryTime": delivery.actual_delivery_time,
            "late": delivery.late,
        }
        updated = await self.selections.record_unless_cancelled(delivery.source_id, fields)
        if updated is not None:
            await self.hub.emit(
                EVENT_SELECTION, SelectionPublic.model_validate(updated), room=user_room(updated.user_id)
            )
