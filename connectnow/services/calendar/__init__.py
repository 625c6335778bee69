"""The calendar sidecar (seed 004): calendars, events, recurrence, categories, locations, ICS,
admin exports and reminders. `build_calendar` wires the services; `CalendarSuite.workers` are the lease
workers the node runs in the background."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectnow.config import Settings
from connectnow.realtime.emitter import Emitter
from connectnow.security import Secrets
from connectnow.services.calendar.archive import ArchiveService
from connectnow.services.calendar.calendars import CalendarService
from connectnow.services.calendar.catalog import CatalogService
from connectnow.services.calendar.events import EventService
from connectnow.services.calendar.exports import ExportService
from connectnow.services.calendar.ics import IcsService
from connectnow.services.calendar.invitations import InvitationService
from connectnow.services.calendar.providers import SyncProvider, providers
from connectnow.services.calendar.reminders import ChatReminderPoster, ReminderPoster, ReminderService
from connectnow.services.calendar.rsvp import RsvpService
from connectnow.services.calendar.series import SeriesService
from connectnow.services.calendar.subscriptions import FetchPolicy, SubscriptionService
from connectnow.services.leases import LeaseWorker
from connectnow.services.mail_outbox import MailOutbox
from connectnow.store.port import DocumentStore

DEFAULT_MAX_ICS_BYTES = 2 * 1024 * 1024


@dataclass
class CalendarSuite:
    calendars: CalendarService
    events: EventService
    series: SeriesService
    catalog: CatalogService
    ics: IcsService
    exports: ExportService
    reminders: ReminderService
    rsvp: RsvpService
    archive: ArchiveService
    subscriptions: SubscriptionService
    providers: dict[str, SyncProvider] = field(default_factory=dict)  # "ics"; Outlook/Google would join here
    workers: list[LeaseWorker] = field(default_factory=list)
    invitations: InvitationService | None = None  # invitation mails (None: built without a mail outbox)

    def mail(self) -> InvitationService:
        if self.invitations is None:  # only suites built without an outbox (unit tests of other parts)
            raise RuntimeError("calendar invitations need a mail outbox")
        return self.invitations


def build_calendar(
    store: DocumentStore,
    secrets: Secrets,
    hub: Emitter,
    poster: ReminderPoster,
    *,
    export_dir: Path,
    public_url: str | None = None,
    max_ics_bytes: int = DEFAULT_MAX_ICS_BYTES,
    poll_seconds: float = 1.0,
    subscription_policy: FetchPolicy | None = None,
    outbox: MailOutbox | None = None,
) -> CalendarSuite:
    calendars = CalendarService(store, secrets, public_url)
    reminders = ReminderService(store, poster)
    events = EventService(store, calendars, hub, reminders)
    exports = ExportService(store, export_dir)
    catalog = CatalogService(store)
    ics = IcsService(events, max_ics_bytes)
    policy = subscription_policy or FetchPolicy(900, 20.0, max_ics_bytes, allow_private=False)
    suite = CalendarSuite(
        calendars=calendars,
        events=events,
        series=SeriesService(events),
        catalog=catalog,
        archive=ArchiveService(store, catalog),
        ics=ics,
        exports=exports,
        reminders=reminders,
        rsvp=RsvpService(events, secrets.digest, public_url),
        subscriptions=SubscriptionService(store, calendars, ics, policy, poll=max(poll_seconds, 1.0)),
    )
    suite.providers = providers(suite.ics)
    if outbox is not None:  # attendees' invitations (sendUpdates=all), sent by the outbox after the write
        suite.invitations = InvitationService(events, suite.rsvp, outbox)
    suite.workers = [
        LeaseWorker("calendar-reminders", reminders.queue, reminders.handle, poll_seconds=poll_seconds),
        LeaseWorker("calendar-exports", exports.queue, exports.handle, poll_seconds=poll_seconds),
        suite.subscriptions.worker,  # ICS subscription refreshes (issue 19)
    ]
    return suite


def chat_poster(store: DocumentStore, messages: Any) -> ChatReminderPoster:
    return ChatReminderPoster(store, messages)


def subscription_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        min_interval_seconds=settings.calendar_subscription_min_interval_seconds,
        timeout_seconds=settings.calendar_subscription_timeout_seconds,
        max_bytes=settings.calendar_ics_max_bytes,
        allow_private=settings.calendar_subscription_allow_private,
    )
