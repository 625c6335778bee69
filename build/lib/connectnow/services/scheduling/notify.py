"""send-reminder: tell the participants a meeting is coming, through a `ReminderChannel`.

The chat channel posts a direct message from the host to the booker through the chat core's direct
message service (idempotent per booking version, so a retried job never posts twice).

The webhook channel POSTs a JSON body to CONNECTNOW_REMINDER_WEBHOOK_URL. The body carries only what may
leave the participants: ids and times, plus the redacted description of Low-sensitivity meetings (never
the description, intake or answers).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import orjson

from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.scheduling import BookingRepository
from connectnow.services.auth import Principal, ensure_user_allowed
from connectnow.services.scheduling.audit import AuditService
from connectnow.store.port import DocumentStore
from models.scheduling import ACTIVE_STATUSES, BookingRecord, Sensitivity
from models.scheduling_ops import JobRecord

WEBHOOK_TIMEOUT_SECONDS = 10.0


def reminder_body(booking: BookingRecord) -> dict[str, Any]:
    return {
        "event": "booking.reminder",
        "bookingId": booking.id,
        "hostId": booking.user_id,
        "bookedBy": booking.created_by,
        "startTime": booking.start_time.isoformat(),
        "endTime": booking.end_time.isoformat(),
        "timeZone": booking.time_zone,
        # Even redacted, a description says what the meeting is about: only Low-sensitivity ones go out.
        "redactedDescription": booking.redacted_description if booking.sensitivity is Sensitivity.LOW else None,
        "sensitivity": booking.sensitivity.value,
    }


class ReminderChannel(Protocol):
    name: str

    async def send(self, booking: BookingRecord) -> dict[str, Any]: ...


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the same scheme as broadcast webhooks, so
    one receiver can verify both; the timestamp lets it refuse replays."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def delivery_id(booking: BookingRecord) -> str:
    """Stable across retries of one reminder: receivers drop duplicates by it."""
    return f"reminder-{booking.id}-{booking.version}"


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, secret: bytes | None = None) -> None:
        self.url = url
        self.secret = secret

    async def send(self, booking: BookingRecord) -> dict[str, Any]:
        body = orjson.dumps(reminder_body(booking))
        headers = {"Content-Type": "application/json", "X-ConnectNow-Delivery": delivery_id(booking)}
        if self.secret:
            headers["X-ConnectNow-Signature"] = sign(self.secret, body, int(time.time()))
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            response = await client.post(self.url, content=body, headers=headers)
        # A non-2xx answer raises, so the job is retried with backoff up to its maxAttempts.
        response.raise_for_status()
        return {"channel": self.name, "status": response.status_code}


class DirectMessenger(Protocol):
    """What the chat channel needs of the chat core's direct messages (connectnow/services/direct.py)."""

    async def send(self, principal: Principal, data: Any) -> tuple[Any, bool]: ...


def reminder_text(booking: BookingRecord) -> str:
    when = booking.start_time.strftime("%Y-%m-%d %H:%M UTC")
    if booking.time_zone:
        local = booking.start_time.astimezone(ZoneInfo(booking.time_zone)).strftime("%H:%M")
        when += f" ({local} {booking.time_zone})"
    what = "your meeting" if booking.sensitivity is Sensitivity.HIGH else f"\u201c{booking.title}\u201d"
    return f"Reminder: {what} starts {when}."


class ChatReminderChannel:
    name = "chat"

    def __init__(self, store: DocumentStore, direct: DirectMessenger) -> None:
        self.users = UserRepository(store)
        self.direct = direct

    async def send(self, booking: BookingRecord) -> dict[str, Any]:
        from models.direct import DirectSend

        if booking.user_id == booking.created_by:
            return {"channel": self.name, "skipped": "the host booked for themselves"}
        host = await self.users.get(booking.user_id)
        if host is None:
            raise RuntimeError("the host no longer exists")
        ensure_user_allowed(host)
        data = DirectSend.model_validate(
            {
                "userId": booking.created_by,
                "content": reminder_text(booking),
                "clientMsgId": delivery_id(booking),
            }
        )
        message, created = await self.direct.send(Principal(user=host), data)
        return {"channel": self.name, "messageId": message.id, "created": created}


class ReminderService:
    def __init__(self, store: DocumentStore, audit: AuditService, channels: list[ReminderChannel]) -> None:
        self.bookings = BookingRepository(store)
        self.audit = audit
        self.channels = channels

    async def job(self, job: JobRecord) -> dict[str, Any]:
        booking = await self.bookings.get(str(job.payload["bookingId"]))
        if booking is None or booking.status not in ACTIVE_STATUSES:
            return {"skipped": "booking gone or closed"}
        if not self.channels:
            return {"skipped": "no reminder channel configured"}
        results = [await channel.send(booking) for channel in self.channels]
        await self.audit.record(None, "booking.remind", "booking", booking.id, booking_id=booking.id)
        return {"sent": results}
