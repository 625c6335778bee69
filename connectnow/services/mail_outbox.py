"""The mail outbox: mails queued after a write commits, sent by a leased worker, never by the request.

A request stores its write, then `enqueue`s a mail document and returns; the `mail-outbox` LeaseWorker
claims due mails (one worker per mail, on any process: connectnow/services/leases.py), sends each through the
mail port (connectnow/mail.py), and records the outcome. A failed send is retried with exponential backoff up
to `max_attempts`, then marked `failed`; every outcome is logged and counted (`connectnow_mail_total{kind,
outcome}`). A sent mail loses its body and attachments (they carry signed links) and keeps its delivery record.

Delivery is at least once: a worker killed after the SMTP server accepted a mail and before it recorded
that, sends it again when the lease expires.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.mail import Attachment, Mailer
from connectnow.metrics import Metrics
from connectnow.repositories.mail_outbox import MailOutboxRepository
from connectnow.services.leases import LeaseSpec, LeaseWorker, backoff_delay
from connectnow.store.port import Document, DocumentStore
from models.mail import MailPart, MailPublic, MailRecord, MailStatus

log = logging.getLogger("connectnow.mail.outbox")

OUTBOX_SPEC = LeaseSpec(
    status_field="status",
    ready_statuses=(MailStatus.PENDING.value,),
    running_status=MailStatus.SENDING.value,
    due_field="scheduledFor",
)
RETRY_CAP_SECONDS = 3600.0
MAX_ERROR_CHARS = 500
MAX_LISTED = 200
QUOTA_WINDOW = timedelta(days=1)


class MailOutbox:
    def __init__(
        self,
        store: DocumentStore,
        mailer: Mailer,
        metrics: Metrics,
        *,
        max_attempts: int,
        retry_base_seconds: float,
        poll_seconds: float,
        send_timeout_seconds: float,
        sender_quota_per_day: int,
    ) -> None:
        self.repo = MailOutboxRepository(store)
        self.mailer = mailer
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.sender_quota_per_day = sender_quota_per_day
        # A lease outlives one SMTP exchange (connect, STARTTLS, DATA), so a live sender is never overtaken.
        lease = max(30.0, 4 * send_timeout_seconds)
        self.queue = self.repo.lease_queue(OUTBOX_SPEC, lease_seconds=lease)
        self.worker = LeaseWorker("mail-outbox", self.queue, self._handle, poll_seconds=poll_seconds)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    # --- queueing --------------------------------------------------------------------------------------
    async def check_quota(self, sender_id: str, adding: int) -> None:
        """Refuse before the write if the user's invitations would pass the daily bound (no open relay)."""
        queued = await self.repo.queued_by_since(sender_id, utcnow() - QUOTA_WINDOW)
        if queued + adding > self.sender_quota_per_day:
            raise AppError(
                errors.MAIL_QUOTA_EXCEEDED,
                details={"perDay": self.sender_quota_per_day, "queued": queued, "adding": adding},
            )

    async def enqueue(
        self,
        kind: str,
        subject_key: str,
        to: str,
        subject: str,
        body: str,
        attachments: Sequence[Attachment] = (),
        *,
        sender_id: str | None = None,
        method: str | None = None,
    ) -> MailRecord:
        now = utcnow()
        record = MailRecord(
            id=new_id(),
            kind=kind,
            subject_key=subject_key,
            sender_id=sender_id,
            to=to,
            subject=subject,
            body=body,
            parts=[MailPart(filename=a.filename, subtype=a.subtype, content=a.content, params=a.params)
                   for a in attachments],
            method=method,
            max_attempts=self.max_attempts,
            scheduled_for=now,
            created_at=now,
        )  # fmt: skip
        await self.repo.insert(record)
        self.worker.wake()
        return record

    async def about(self, subject_key: str) -> list[MailPublic]:
        return [MailPublic.model_validate(r) for r in await self.repo.about(subject_key, MAX_LISTED)]

    async def run_due(self) -> int:
        """Send every mail due now in this task (tests); the background worker does the same."""
        return await self.worker.run_once()

    # --- sending ---------------------------------------------------------------------------------------
    async def _handle(self, item: Document, worker_id: str) -> None:
        mail = MailRecord.model_validate(item)
        parts = [Attachment(p.filename, p.subtype, p.content, p.params) for p in mail.parts or []]
        try:
            await self.mailer.send(mail.to, mail.subject, mail.body or "", parts)
        except Exception as exc:  # any transport failure (refused, timeout, DNS): retried, never lost silently
            await self._failed(mail, worker_id, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
            return
        await self.repo.mark_sent(mail.id, worker_id, utcnow())
        self.metrics.mail.labels(mail.kind, "sent").inc()

    async def _failed(self, mail: MailRecord, worker_id: str, error: str) -> None:
        if mail.attempts >= mail.max_attempts:
            log.error("mail %s (%s) to %s failed for good after %d attempts: %s",
                      mail.id, mail.kind, mail.to, mail.attempts, error)  # fmt: skip
            self.metrics.mail.labels(mail.kind, "failed").inc()
            await self.queue.finish(mail.id, worker_id, MailStatus.FAILED.value, {"lastError": error})
            return
        delay = backoff_delay(mail.attempts, base_seconds=self.retry_base_seconds, cap_seconds=RETRY_CAP_SECONDS)
        log.warning("mail %s (%s) attempt %d failed, retrying in %.1fs: %s",
                    mail.id, mail.kind, mail.attempts, delay, error)  # fmt: skip
        self.metrics.mail.labels(mail.kind, "retried").inc()
        await self.queue.retry_at(mail.id, worker_id, utcnow() + timedelta(seconds=delay), {"lastError": error})
