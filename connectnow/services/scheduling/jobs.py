"""Worker jobs (seed `worker_jobs`): generate-summary, send-reminder, purge-sensitive.

Jobs are claimed with the shared lease mechanism (connectnow/services/leases.py): status pending ->
processing (with a lease) -> completed, or back to pending with backoff until `maxAttempts`, then failed.
Attempts, result, error, startedAt and completedAt are recorded on the job document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from connectnow.clock import new_id, utcnow
from connectnow.repositories.scheduling import JobRepository
from connectnow.services.leases import LeaseSpec, LeaseWorker, backoff_delay
from connectnow.store.port import Document, DocumentStore
from models.scheduling import BookingRecord
from models.scheduling_ops import JobPublic, JobRecord, JobStatus, JobType

log = logging.getLogger("connectnow.scheduling.jobs")

JOB_LEASE_SPEC = LeaseSpec(
    status_field="status",
    ready_statuses=(JobStatus.PENDING.value,),
    running_status=JobStatus.PROCESSING.value,
    due_field="scheduledFor",
)
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
MAX_ERROR_CHARS = 2000

JobHandler = Callable[[JobRecord], Awaitable[dict[str, Any]]]


JIT_VALIDATE_BEFORE = timedelta(minutes=5)  # jit-validate runs this long before a booking starts


class JobService:
    def __init__(
        self,
        store: DocumentStore,
        *,
        lease_seconds: float,
        poll_seconds: float,
        reminder_before: timedelta,
        purge_interval: timedelta,
    ) -> None:
        self.repo = JobRepository(store)
        self.queue = self.repo.lease_queue(JOB_LEASE_SPEC, lease_seconds=lease_seconds)
        self.worker = LeaseWorker("scheduling-jobs", self.queue, self._handle, poll_seconds=poll_seconds)
        self.reminder_before = reminder_before
        self.purge_interval = purge_interval
        self.handlers: dict[JobType, JobHandler] = {}

    def register(self, job_type: JobType, handler: JobHandler) -> None:
        self.handlers[job_type] = handler

    # --- enqueueing -----------------------------------------------------------------------------------
    async def enqueue(
        self,
        job_type: JobType,
        payload: dict[str, Any],
        when: datetime | None = None,
        *,
        booking_id: str | None = None,
        max_attempts: int = 3,
    ) -> JobRecord:
        now = utcnow()
        job = JobRecord(
            id=new_id(),
            job_type=job_type,
            payload=payload,
            booking_id=booking_id,
            max_attempts=max_attempts,
            scheduled_for=when or now,
            created_at=now,
        )
        await self.repo.insert(job)
        if job.scheduled_for <= now:
            self.worker.wake()
        return job

    async def on_booking_scheduled(self, booking: BookingRecord) -> None:
        """A new or moved meeting: a fresh summary now, and its reminder moved to the new time."""
        await self.cancel_pending(booking.id, JobType.SEND_REMINDER)
        await self.enqueue(JobType.GENERATE_SUMMARY, {"bookingId": booking.id}, booking_id=booking.id)
        # A meeting booked closer than the reminder lead time is reminded of at once.
        remind_at = max(booking.start_time - self.reminder_before, utcnow())
        await self.enqueue(JobType.SEND_REMINDER, {"bookingId": booking.id}, remind_at, booking_id=booking.id)
        await self.cancel_pending(booking.id, JobType.JIT_VALIDATE)
        check_at = max(booking.start_time - JIT_VALIDATE_BEFORE, utcnow())
        await self.enqueue(JobType.JIT_VALIDATE, {"bookingId": booking.id}, check_at, booking_id=booking.id)

    async def on_booking_closed(self, booking: BookingRecord) -> None:
        await self.cancel_pending(booking.id, JobType.SEND_REMINDER)
        await self.cancel_pending(booking.id, JobType.JIT_VALIDATE)

    async def cancel_pending(self, booking_id: str, job_type: JobType) -> int:
        return await self.repo.cancel_pending(booking_id, job_type.value, utcnow())

    async def ensure_purge_scheduled(self) -> None:
        """Keep one purge-sensitive job in the queue (several workers may race here: purges are idempotent)."""
        if await self.repo.open_of_type(JobType.PURGE_SENSITIVE.value) == 0:
            await self.enqueue(JobType.PURGE_SENSITIVE, {}, utcnow())

    # --- running --------------------------------------------------------------------------------------
    async def _handle(self, item: Document, worker_id: str) -> None:
        job = JobRecord.model_validate(item)
        started = utcnow()
        handler = self.handlers.get(job.job_type)
        try:
            if handler is None:
                raise RuntimeError(f"no handler for {job.job_type.value}")
            result = await handler(job)
        except Exception as exc:
            await self._failed(job, worker_id, started, exc)
            return
        await self.queue.finish(
            job.id,
            worker_id,
            JobStatus.COMPLETED.value,
            {"result": result, "startedAt": started, "completedAt": utcnow(), "error": None},
        )
        if job.job_type is JobType.PURGE_SENSITIVE:
            await self.enqueue(JobType.PURGE_SENSITIVE, {}, utcnow() + self.purge_interval)

    async def _failed(self, job: JobRecord, worker_id: str, started: datetime, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        log.warning("job %s (%s) attempt %d failed: %s", job.id, job.job_type.value, job.attempts, error)
        if job.attempts >= job.max_attempts:
            await self.queue.finish(
                job.id,
                worker_id,
                JobStatus.FAILED.value,
                {"error": error, "startedAt": started, "completedAt": utcnow()},
            )
            return
        delay = backoff_delay(job.attempts, base_seconds=RETRY_BASE_SECONDS, cap_seconds=RETRY_CAP_SECONDS)
        await self.queue.retry_at(
            job.id, worker_id, utcnow() + timedelta(seconds=delay), {"error": error, "startedAt": started}
        )

    async def run_due(self) -> int:
        """Run every job due now in this task (tests and the CLI); the server's worker loop does the same."""
        return await self.worker.run_once()

    async def list_for_booking(self, booking_id: str) -> list[JobPublic]:
        rows = await self.repo.find({"bookingId": booking_id}, sort=[("createdAt", 1)])
        return [JobPublic.model_validate(r, from_attributes=True) for r in rows]

    async def list_recent(self, status: JobStatus | None, limit: int) -> list[JobPublic]:
        flt = {"status": status.value} if status else {}
        rows = await self.repo.find(flt, sort=[("createdAt", -1)], limit=limit)
        return [JobPublic.model_validate(r, from_attributes=True) for r in rows]
