"""send-reminder: tell the participants a meeting is coming, through a `ReminderChannel`.

The webhook channel POSTs a JSON body to CONNECTNOW_REMINDER_WEBHOOK_URL. The body carries only what may
leave the participants: ids and times, plus the redacted description of Low-sensitivity meetings (never
the description, intake or answers).
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from connectnow.repositories.scheduling import BookingRepository
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


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    async def send(self, booking: BookingRecord) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            response = await client.post(self.url, json=reminder_body(booking))
        # A non-2xx answer raises, so the job is retried with backoff up to its maxAttempts.
        response.raise_for_status()
        return {"channel": self.name, "status": response.status_code}


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
