"""The composition root: one Node per worker process owns every long-lived part and wires them together.

Created with the app, started in its lifespan (open the store and run migrations, connect the broker,
build the services), stopped on shutdown. Handlers reach the node, never a driver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import socketio

from connectnow.config import Settings
from connectnow.files.storage import LocalFileStorage
from connectnow.mail import Mailer, make_mailer
from connectnow.realtime.broker import Broker, BrokerHealth
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub
from connectnow.realtime.presence import PresenceBackend
from connectnow.realtime.ratelimit import AuthRules, RateLimiter, make_rate_limiter
from connectnow.repositories.direct import DirectConversationRepository, direct_log
from connectnow.repositories.message_log import RepairHook
from connectnow.repositories.messages import channel_log
from connectnow.repositories.workspaces import WorkspaceMemberRepository
from connectnow.security import Secrets
from connectnow.services.accounts import AccountService
from connectnow.services.api_keys import ApiKeyService
from connectnow.services.attachments import AttachmentJanitor, AttachmentService
from connectnow.services.auth import AuthService
from connectnow.services.auth_limits import AuthThrottle
from connectnow.services.broadcasts.in_app import ChatCorePoster
from connectnow.services.broadcasts.wiring import Broadcasts, build_broadcasts
from connectnow.services.calendar import CalendarSuite, build_calendar, chat_poster, subscription_policy
from connectnow.services.channel_deletion import ChannelDeletionService
from connectnow.services.channels import ChannelService
from connectnow.services.chat_access import ChatAccess
from connectnow.services.dashboard import DashboardService
from connectnow.services.direct import DirectService, direct_reader
from connectnow.services.direct_extras import DirectExtrasService, DirectReactionRepository
from connectnow.services.direct_gate import DirectGate
from connectnow.services.mail_outbox import MailOutbox
from connectnow.services.messages import MessageService, live_channel_reader
from connectnow.services.moderation import KeptMessages, ModerationService, with_kept_files
from connectnow.services.notify import StatusReader
from connectnow.services.operators import OperatorService
from connectnow.services.presence import PresenceService
from connectnow.services.reactions import ReactionService, SearchService
from connectnow.services.read_state import ReadStateService
from connectnow.services.scheduling import PublicBooking, SchedulingServices, SchedulingWorker, build_scheduling
from connectnow.services.scheduling.public import host_busy
from connectnow.services.sync import SyncService
from connectnow.services.typing_indicators import TypingService, channel_gate, direct_gate
from connectnow.services.users import UserService
from connectnow.services.voice import VoiceService
from connectnow.services.workspaces import WorkspaceService
from connectnow.store import DocumentStore, StoreError, open_store
from models.attachments import ConversationKind

log = logging.getLogger("connectnow")


class BackgroundWorker(Protocol):
    """A loop a service runs beside the server (schedulers, job runners); started and stopped by the node."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Services:
    """The rules. Each service validates beyond shape, authorizes, writes, then emits. Built whole by
    `build_services`: every field is complete when the object exists."""

    auth: AuthService  # accounts, sessions, tokens
    users: UserService  # profiles and the user directory
    api_keys: ApiKeyService  # bots' credentials
    accounts: AccountService  # e-mail verification, password reset
    mail_outbox: MailOutbox  # invitation mails, sent after the write by a leased, retrying worker
    attachments: AttachmentService  # uploads, claims by messages, guarded downloads
    chat: ChatAccess  # who may see and do what in workspaces and channels (cached, flushed over the broker)
    workspaces: WorkspaceService
    channels: ChannelService
    messages: MessageService  # channel messages: send, edit, delete, history, threads, mentions
    reactions: ReactionService
    search: SearchService
    read_state: ReadStateService  # unread counts and read markers
    moderation: ModerationService  # deleted messages kept for review, reports, the purge
    channel_deletion: ChannelDeletionService  # empties deleted channels (resumable leased job)
    typing: TypingService  # typing indicators in channels and direct conversations
    direct: DirectService  # direct conversations and messages
    direct_extras: DirectExtrasService  # reactions and pins in direct conversations
    voice: VoiceService  # VOICE channel calls (in memory, shared over the broker)
    broadcasts: Broadcasts  # contacts, groups, templates, scheduled messages, study books
    calendar: CalendarSuite  # calendars, events, reminders (posted as messages), ICS, exports
    scheduling: SchedulingServices  # bookings, policies, forms, summaries, audit, worker jobs, public page
    presence: PresenceService  # aggregate status over every socket on every worker
    sync: SyncService  # gap-free recovery from the database after a reconnect
    dashboard: DashboardService  # live numbers for operators
    operators: OperatorService  # operator actions and their audit trail
    # Loops the services run beside the server, in start order (the node starts them, stops them reversed).
    workers: tuple[BackgroundWorker, ...]


@dataclass(frozen=True)
class Parts:
    """The long-lived parts the services are built on. The node opens them at start; tests make their own."""

    settings: Settings
    store: DocumentStore
    hub: Hub
    limiter: RateLimiter
    secrets: Secrets
    presence: PresenceBackend


def build_services(parts: Parts) -> Services:
    """The one composition pass: each object is built after everything it needs, and complete.

    Two splits keep the graph acyclic: the message logs and `KeptMessages` are built before the message
    services, so the attachments' reader checks (built from them) exist before the services that claim
    files; and the typing service checks direct conversations through their repository, so it exists
    before DirectService, which ends the sender's indicator on send.
    """
    settings, store, hub, limiter = parts.settings, parts.store, parts.hub, parts.limiter
    throttle = AuthThrottle(limiter, AuthRules.from_settings(settings))
    auth = AuthService(store, parts.secrets, settings, hub, throttle)
    users = UserService(auth)
    presence = _presence_service(parts)
    access = ChatAccess(store)
    hub.watch_ops(access.on_hub_op)  # membership events flush cached access on every worker
    repairs = _count_repairs(hub)
    channel_messages, direct_messages = channel_log(store, repairs), direct_log(store, repairs)
    kept = KeptMessages(store, access, retention_seconds=settings.moderation_retention_seconds)
    readers = {
        # A deleted channel message's files are kept for review until the purge: its author and ADMIN+ still
        # may read them; nobody else, whoever asks.
        ConversationKind.CHANNEL: with_kept_files(live_channel_reader(access, channel_messages), kept),
        ConversationKind.DIRECT: direct_reader(DirectConversationRepository(store), direct_messages),
    }
    files = LocalFileStorage(settings.data_dir / "files")
    attachments = AttachmentService(store, files, settings, limiter, readers)
    messages = MessageService(
        store, access, hub, max_chars=settings.message_max_chars, limiter=limiter, log=channel_messages,
        attachments=attachments, moderation=kept, statuses=presence_statuses(presence),
    )  # fmt: skip
    poll = settings.moderation_poll_seconds
    moderation = ModerationService(store, messages, attachments, poll_seconds=poll)
    channels = ChannelService(access, hub, messages)
    channel_deletion = ChannelDeletionService(store, channels, attachments, poll_seconds=poll)
    typing = TypingService(
        hub, limiter, channel_gate(access, messages), direct_gate(DirectConversationRepository(store)),
        expiry_secs=settings.typing_expiry_seconds,
    )  # fmt: skip
    direct = DirectService(
        store, hub, limiter, attachments, max_chars=settings.message_max_chars, log=direct_messages,
        gate=DirectGate(store, require_shared_workspace=settings.dm_require_shared_workspace),
        after_send=typing.direct_message_sent, reaction_summaries=DirectReactionRepository(store).summaries,
    )  # fmt: skip
    broadcasts = build_broadcasts(store, settings, hub, poster=ChatCorePoster(store, messages, direct))
    mailer = make_mailer(settings)
    outbox = _mail_outbox(parts, mailer)
    calendar = build_calendar(
        store, parts.secrets, hub, chat_poster(store, messages),
        export_dir=settings.data_dir / "exports", public_url=settings.public_url,
        max_ics_bytes=settings.calendar_ics_max_bytes, poll_seconds=settings.calendar_poll_seconds,
        subscription_policy=subscription_policy(settings), outbox=outbox,
    )  # fmt: skip
    public = PublicBooking(
        parts.secrets.digest, throttle.request, settings.public_url, host_busy(calendar.events), outbox
    )  # the guest's page counts the host's calendar events as busy and mails their invitation
    scheduling = build_scheduling(store, settings, hub=hub, direct=direct, public=public)
    voice = VoiceService(access, hub, limiter, heartbeat_seconds=settings.voice_heartbeat_seconds)
    dashboard = DashboardService(store, hub, presence, settings.dashboard_interval_seconds)
    return Services(
        auth=auth, users=users, api_keys=ApiKeyService(auth),
        accounts=AccountService(auth, mailer), mail_outbox=outbox, attachments=attachments,
        chat=access, workspaces=WorkspaceService(access, hub, channels), channels=channels, messages=messages,
        reactions=ReactionService(messages), search=SearchService(messages), read_state=ReadStateService(messages),
        moderation=moderation, channel_deletion=channel_deletion, typing=typing, direct=direct,
        direct_extras=DirectExtrasService(store, direct), voice=voice, broadcasts=broadcasts, calendar=calendar,
        scheduling=scheduling, presence=presence,
        sync=SyncService(access, messages, direct, hub.metrics, settings.sync_max_messages),
        dashboard=dashboard, operators=OperatorService(store, users),
        workers=(
            broadcasts,  # the delivery scheduler (a LeaseWorker) and its HTTP client
            AttachmentJanitor(attachments),  # deletes uploads no message claimed
            outbox,  # invitation mails
            moderation,  # the purge LeaseWorker
            channel_deletion,
            typing,  # expires indicators
            voice,  # catches up with calls already going on
            SchedulingWorker(scheduling),  # worker jobs on the shared lease queue
            *calendar.workers,  # reminders and admin exports (lease queues)
            presence,  # heartbeats and the sweeper
            dashboard,
        ),
    )  # fmt: skip


def _mail_outbox(parts: Parts, mailer: Mailer) -> MailOutbox:
    s = parts.settings
    return MailOutbox(
        parts.store, mailer, parts.hub.metrics,
        max_attempts=s.mail_max_attempts, retry_base_seconds=s.mail_retry_base_seconds,
        poll_seconds=s.mail_poll_seconds, send_timeout_seconds=s.smtp_timeout_seconds,
        sender_quota_per_day=s.invitation_mails_per_day,
    )  # fmt: skip


def presence_statuses(presence: PresenceService) -> StatusReader:
    """Who is ONLINE, AWAY, BUSY or OFFLINE now, for @here / @channel (one read of the presence backend)."""

    async def read(user_ids: list[str]) -> dict[str, str]:
        states = await presence.backend.get_states(user_ids)
        return {uid: presence.decode(uid, states.get(uid)).status for uid in user_ids}

    return read


def _count_repairs(hub: Hub) -> RepairHook:
    repairs = hub.metrics.repairs
    return lambda scope, n: repairs.labels(scope).inc(n)


def _presence_service(parts: Parts) -> PresenceService:
    members = WorkspaceMemberRepository(parts.store)

    async def workspaces_of(user_id: str) -> list[str]:
        return [m.workspace_id for m in await members.for_user(user_id)]

    async def workspace_size(workspace_id: str) -> int:
        return await members.count({"workspaceId": workspace_id})

    return PresenceService(parts.presence, parts.hub, parts.settings, workspaces_of, workspace_size)


def make_presence_backend(settings: Settings) -> PresenceBackend:
    if settings.redis_url:
        from connectnow.realtime.presence_redis import RedisPresence

        return RedisPresence(settings.redis_url, settings.redis_prefix)
    from connectnow.realtime.presence_memory import MemoryPresence

    return MemoryPresence()


@dataclass
class Node:
    settings: Settings  # every setting, validated at start
    sio: socketio.AsyncServer  # the Socket.IO server this worker runs
    hub: Hub  # this worker's sockets and rooms; the one place events leave the server
    store: DocumentStore | None = None  # the database behind the storage port (SQLite or MongoDB)
    broker: Broker | None = None  # cross-worker fan-out (in-process or Redis pub/sub)
    secrets: Secrets | None = None  # password hashing and token digests
    services: Services | None = field(default=None)  # the rules, built once the store is open
    limiter: RateLimiter | None = None  # per-user token buckets (Redis when configured, else in-process)

    async def start(self) -> None:
        self.store = await open_store(self.settings)
        self.secrets = Secrets(self.settings)
        self.broker = self._make_broker()
        await self.hub.attach(self.broker)
        self.limiter = make_rate_limiter(self.settings)
        presence = make_presence_backend(self.settings)
        self.services = build_services(Parts(self.settings, self.store, self.hub, self.limiter, self.secrets, presence))
        await self._repair_message_logs()
        self._watch_metrics()
        for worker in self.services.workers:
            await worker.start()
        log.info(
            "ConnectNow started: storage=%s broker=%s env=%s",
            self.store.kind,
            self.broker.name,
            self.settings.env.value,
        )

    async def _repair_message_logs(self) -> None:
        """Repair what a crashed worker left half-written before serving (counted in /metrics)."""
        assert self.services is not None
        for message_log in (self.services.messages.log, self.services.direct.log):
            visited = await message_log.repair_all()
            if visited:
                log.warning("start-up repair visited %d %s conversation(s)", visited, message_log.scope)

    def _watch_metrics(self) -> None:
        metrics = self.hub.metrics
        metrics.watch(metrics.connected_sockets, lambda: len(self.hub.connections))
        broker = self.broker
        metrics.watch(metrics.listener_restarts, lambda: getattr(broker, "listener_restarts", 0))
        metrics.watch(metrics.publish_failures, lambda: getattr(broker, "publish_failures", 0))

    @property
    def store_(self) -> DocumentStore:
        if self.store is None:
            raise RuntimeError("node not started")
        return self.store

    def _make_broker(self) -> Broker:
        if self.settings.redis_url:
            from connectnow.realtime.broker_redis import RedisBroker

            return RedisBroker(
                self.settings.redis_url, self.settings.redis_prefix, on_lag=self.hub.metrics.pubsub_lag.observe
            )
        return MemoryBroker()

    async def stop(self) -> None:
        for worker in reversed(self.services.workers if self.services else ()):
            await worker.stop()
        if self.broker is not None:
            await self.broker.stop()
        await self.hub.ordering.close()
        if self.limiter is not None:
            await self.limiter.close()
        if self.store is not None:
            await self.store.close()

    @property
    def rate_limiter(self) -> RateLimiter:
        """`await node.rate_limiter.hit(user_id, node.rate_limiter.rules.send)` raises RATE_LIMITED."""
        if self.limiter is None:
            raise RuntimeError("node not started")
        return self.limiter

    @property
    def svc(self) -> Services:
        if self.services is None:
            raise RuntimeError("node not started")
        return self.services

    async def readiness(self) -> dict[str, str]:
        """A line per dependency: 'ok' or what is wrong."""
        status: dict[str, str] = {}
        try:
            if self.store is None:
                raise StoreError("storage not opened")
            await self.store.ping()
            status["storage"] = "ok"
        except StoreError as exc:
            status["storage"] = f"down: {exc}"
        health = await self.broker.check() if self.broker else BrokerHealth(False, "broker not started")
        status["broker"] = "ok" if health.ok else f"down: {health.detail}"
        return status
