"""The mail outbox (connectnow/services/mail_outbox.py): stored mails and what their senders may see."""

from __future__ import annotations

from enum import StrEnum

from models.base import StoredModel, UtcDateTime, WireModel


class MailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MailPart(WireModel):
    filename: str
    subtype: str
    content: str
    params: dict[str, str] | None = None


class MailRecord(StoredModel):
    kind: str  # "booking.invitation", "booking.cancellation", "event.invitation", "event.cancellation"
    subject_key: str  # what the mail is about: "booking:{id}" or "event:{id}" (listing and purging)
    sender_id: str | None = None  # the user whose write queued it (the daily quota), None for a guest
    to: str
    subject: str
    # Removed once sent: the body carries signed links that must not outlive their delivery.
    body: str | None = None
    parts: list[MailPart] | None = None
    method: str | None = None  # the attached ICS's iTIP method (REQUEST, CANCEL)
    status: MailStatus = MailStatus.PENDING
    attempts: int = 0
    max_attempts: int = 6
    scheduled_for: UtcDateTime
    last_error: str | None = None
    created_at: UtcDateTime
    sent_at: UtcDateTime | None = None


class MailPublic(WireModel):
    """One invitation mail as its sender sees it: where it went, how far it got."""

    id: str
    kind: str
    to: str
    subject: str
    method: str | None = None
    status: MailStatus
    attempts: int
    last_error: str | None = None
    created_at: UtcDateTime
    sent_at: UtcDateTime | None = None
