"""Builds the broadcasts sidecar's services for a node: one call in `Node.start`."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectnow.config import Settings
from connectnow.realtime.emitter import Emitter
from connectnow.repositories.broadcasts import DeliveryRepository, ScheduledRepository
from connectnow.repositories.contacts import ContactRepository
from connectnow.repositories.studybooks import SelectionRepository
from connectnow.services.broadcasts.consent import ConsentService
from connectnow.services.broadcasts.delivery import DeliveryEngine
from connectnow.services.broadcasts.groups import GroupService
from connectnow.services.broadcasts.scheduling import ScheduleService, TargetResolver
from connectnow.services.broadcasts.series import SeriesService
from connectnow.services.broadcasts.sources import ScheduledSource, SelectionSource, Source
from connectnow.services.broadcasts.templates import TemplateService
from connectnow.services.broadcasts.transports import (
    ChatPoster,
    InAppTransport,
    Transport,
    WebhookTransport,
    http_client,
)
from connectnow.services.broadcasts.wake import WakeSignal, wake_broker
from connectnow.services.broadcasts.webhooks import WebhookService
from connectnow.services.contacts import ContactService
from connectnow.services.studybooks import StudyBookService
from connectnow.store.port import DocumentStore
from models.broadcasts import SourceKind, TargetKind


@dataclass
class Broadcasts:
    contacts: ContactService
    groups: GroupService
    templates: TemplateService
    webhooks: WebhookService
    schedule: ScheduleService
    studybooks: StudyBookService
    engine: DeliveryEngine
    client: httpx.AsyncClient
    waker: WakeSignal
    consent: ConsentService
    series: SeriesService  # recurring broadcasts (issue 19): occurrences become scheduled messages

    async def start(self) -> None:
        await self.waker.start()
        await self.engine.worker.start()
        await self.series.start()

    async def stop(self) -> None:
        await self.series.stop()
        await self.engine.worker.stop()
        await self.waker.stop()
        await self.client.aclose()


def build_broadcasts(
    store: DocumentStore,
    settings: Settings,
    hub: Emitter,
    poster: ChatPoster | None = None,
    client: httpx.AsyncClient | None = None,
) -> Broadcasts:
    contacts = ContactService(store, settings)
    groups = GroupService(store)
    templates = TemplateService(store)
    webhooks = WebhookService(store, settings)
    client = client or http_client(settings.broadcast_webhook_timeout_seconds)
    transports: dict[TargetKind, Transport] = {
        TargetKind.CONTACT: WebhookTransport(webhooks, client, allow_private=settings.broadcast_webhook_allow_private)
    }
    if poster is not None:
        in_app = InAppTransport(poster)
        transports[TargetKind.CHANNEL] = in_app
        transports[TargetKind.DIRECT] = in_app
    deliveries = DeliveryRepository(store)
    contact_repo = ContactRepository(store)
    sources: dict[SourceKind, Source] = {
        SourceKind.SCHEDULED: ScheduledSource(ScheduledRepository(store), deliveries, contact_repo, hub),
        SourceKind.SELECTION: SelectionSource(SelectionRepository(store), contact_repo, hub),
    }
    engine = DeliveryEngine(deliveries, settings, hub, sources, transports)
    resolver = TargetResolver(contacts, groups, webhooks, poster)
    waker = WakeSignal(engine.worker, wake_broker(settings))
    schedule = ScheduleService(store, settings, hub, resolver, templates, wake=waker.notify)
    studybooks = StudyBookService(store, schedule)
    consent = ConsentService(contacts, webhooks)
    series = SeriesService(store, settings, schedule)
    return Broadcasts(
        contacts, groups, templates, webhooks, schedule, studybooks, engine, client, waker, consent, series
    )
