"""The scheduling sidecar (seed 003): bookings under scheduling policies, intake forms with
encrypted responses, context summaries, audit logs, worker jobs, calendar connections, system settings.

`build_scheduling` wires the services once per node; `SchedulingServices.worker` is the node's background
loop for worker jobs (the shared lease mechanism).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from connectnow import errors
from connectnow.config import Settings
from connectnow.crypto import KeyRing, keyring_from_settings
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.services.leases import LeaseWorker
from connectnow.services.mail_outbox import MailOutbox
from connectnow.services.scheduling.admin import SchedulingAdminService
from connectnow.services.scheduling.audit import AuditService
from connectnow.services.scheduling.bookings import BookingService
from connectnow.services.scheduling.forms import FormService
from connectnow.services.scheduling.jit import JitValidator
from connectnow.services.scheduling.jobs import JobService
from connectnow.services.scheduling.notify import (
    ChatReminderChannel,
    DirectMessenger,
    ReminderChannel,
    ReminderService,
    WebhookChannel,
)
from connectnow.services.scheduling.policies import PolicyService
from connectnow.services.scheduling.public import BusyLookup, PublicBookingService, Throttle
from connectnow.services.scheduling.purge import PurgeService
from connectnow.services.scheduling.retention import Retention
from connectnow.services.scheduling.summaries import SummaryService
from connectnow.store.port import DocumentStore
from models.scheduling_ops import JobType


@dataclass(frozen=True)
class PublicBooking:
    """What the public booking page needs from outside the sidecar: the server's digest for signed guest
    links, the per-address limiter, the public URL for links in mail, the host's busy time (calendar) and the
    mail outbox for the guest's invitations."""

    digest: Callable[[str], str]
    throttle: Throttle
    public_url: str | None
    busy: BusyLookup | None
    outbox: MailOutbox | None = None

    def service(self, policies: PolicyService, bookings: BookingService, audit: AuditService) -> PublicBookingService:
        return PublicBookingService(
            policies, bookings, audit, self.digest, self.throttle, self.public_url, self.busy, self.outbox
        )


@dataclass
class SchedulingServices:
    ring: KeyRing
    audit: AuditService
    policies: PolicyService
    jobs: JobService
    bookings: BookingService
    forms: FormService
    summaries: SummaryService
    reminders: ReminderService
    purge: PurgeService
    admin: SchedulingAdminService
    public: PublicBookingService | None = None  # the public booking page (needs the server key and the limiter)

    @property
    def worker(self) -> LeaseWorker:
        return self.jobs.worker

    def public_booking(self) -> PublicBookingService:
        if self.public is None:  # built without a PublicBooking (unit tests of other parts)
            raise AppError(errors.INTERNAL)
        return self.public


def build_scheduling(
    store: DocumentStore,
    settings: Settings,
    *,
    channels: list[ReminderChannel] | None = None,
    hub: Emitter | None = None,
    direct: DirectMessenger | None = None,
    public: PublicBooking | None = None,
) -> SchedulingServices:
    """`direct`: reminders also go out as direct messages; `public`: the public booking page."""
    ring = keyring_from_settings(settings)
    retention = Retention(
        store, settings.summary_retention_days, settings.form_retention_days, settings.audit_retention_days
    )
    audit = AuditService(store, retention)
    policies = PolicyService(store)
    jobs = JobService(
        store,
        lease_seconds=settings.scheduling_job_lease_seconds,
        poll_seconds=settings.scheduling_job_poll_seconds,
        reminder_before=timedelta(minutes=settings.reminder_minutes_before),
        purge_interval=timedelta(seconds=settings.scheduling_purge_interval_seconds),
    )
    forms = FormService(store, ring, audit, retention)
    bookings = BookingService(store, ring, policies, audit, jobs, forms, hub)
    summaries = SummaryService(store, ring, audit, retention, settings.phone_default_region)
    if channels is None:
        secret = (
            settings.reminder_webhook_secret.get_secret_value().encode() if settings.reminder_webhook_secret else None
        )
        channels = [WebhookChannel(settings.reminder_webhook_url, secret)] if settings.reminder_webhook_url else []
    if direct is not None:
        channels = [*channels, ChatReminderChannel(store, direct)]
    reminders = ReminderService(store, audit, channels)
    purge = PurgeService(store, audit, retention)
    jobs.register(JobType.GENERATE_SUMMARY, summaries.job)
    jobs.register(JobType.SEND_REMINDER, reminders.job)
    jobs.register(JobType.PURGE_SENSITIVE, purge.job)
    jobs.register(JobType.JIT_VALIDATE, JitValidator(policies, forms, audit).job)
    return SchedulingServices(
        ring=ring,
        audit=audit,
        policies=policies,
        jobs=jobs,
        bookings=bookings,
        forms=forms,
        summaries=summaries,
        reminders=reminders,
        purge=purge,
        admin=SchedulingAdminService(store, ring, audit),
        public=None if public is None else public.service(policies, bookings, audit),
    )


class SchedulingWorker:
    """The node's background part: keep a purge scheduled, then run the worker-job lease loop."""

    def __init__(self, services: SchedulingServices) -> None:
        self.services = services

    async def start(self) -> None:
        await self.services.jobs.ensure_purge_scheduled()
        await self.services.worker.start()

    async def stop(self) -> None:
        await self.services.worker.stop()
