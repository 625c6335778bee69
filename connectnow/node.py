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
from connectnow.mail import make_mailer
from connectnow.realtime.broker import Broker, BrokerHealth
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub
from connectnow.realtime.ratelimit import AuthRules, RateLimiter, make_rate_limiter
from connectnow.security import Secrets
from connectnow.services.accounts import AccountService
from connectnow.services.api_keys import ApiKeyService
from connectnow.services.attachments import AttachmentJanitor, AttachmentService, live_channel_reader
from connectnow.services.auth import AuthService
from connectnow.services.auth_limits import AuthThrottle
from connectnow.services.broadcasts.in_app import ChatCorePoster
from connectnow.services.broadcasts.wiring import Broadcasts, build_broadcasts
from connectnow.services.calendar import CalendarSuite, build_calendar, chat_poster
from connectnow.services.channel_deletion import ChannelDeletionService
from connectnow.services.channels import ChannelService
from connectnow.services.chat_access import ChatAccess
from connectnow.services.chat_wiring import presence_statuses, wire_chat
from connectnow.services.dashboard import DashboardService
from connectnow.services.direct import DirectService
from connectnow.services.direct_extras import DirectExtrasService
from connectnow.services.direct_gate import DirectGate
from connectnow.services.messages import MessageService
from connectnow.services.moderation import ModerationService, with_kept_files
from connectnow.services.operators import OperatorService
from connectnow.services.presence import PresenceService
from connectnow.services.reactions import ReactionService, SearchService
from connectnow.services.read_state import ReadStateService
from connectnow.services.scheduling import SchedulingServices, SchedulingWorker, build_scheduling
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


@dataclass
class Services:
    """The rules. Each service validates beyond shape, authorizes, writes, then emits."""

    auth: AuthService
    users: UserService
    api_keys: ApiKeyService
    attachments: AttachmentService
    # the chat core: built by wire_chat() right after the constructor (init=False keeps them out of it)
    chat: ChatAccess = field(init=False)
    workspaces: WorkspaceService = field(init=False)
    channels: ChannelService = field(init=False)
    messages: MessageService = field(init=False)
    reactions: ReactionService = field(init=False)
    search: SearchService = field(init=False)
    read_state: ReadStateService = field(init=False)
    direct: DirectService = field(init=False)  # direct conversations and messages
    direct_extras: DirectExtrasService = field(init=False)  # reactions and pins in DMs
    moderation: ModerationService = field(init=False)  # deleted messages kept for review
    channel_deletion: ChannelDeletionService = field(init=False)  # resumable leased job
    accounts: AccountService = field(init=False)  # e-mail verification, password reset
    typing: TypingService = field(init=False)  # typing indicators
    voice: VoiceService = field(init=False)  # VOICE channel calls (in memory, shared over the broker)
    broadcasts: Broadcasts  # contacts, groups, templates, scheduled messages, study books
    scheduling: SchedulingServices  # bookings, policies, forms, summaries, audit, worker jobs
    calendar: CalendarSuite = field(init=False)  # built after the chat core (reminders post messages)
    presence: PresenceService = field(init=False)  # aggregate status over every socket on every worker
    sync: SyncService = field(init=False)  # gap-free recovery from the database after a reconnect
    dashboard: DashboardService = field(init=False)  # live numbers for operators
    operators: OperatorService = field(init=False)  # operator actions and their audit trail


@dataclass
class Node:
    settings: Settings  # every setting, validated at start
    sio: socketio.AsyncServer  # the Socket.IO server this worker runs
    hub: Hub  # this worker's sockets and rooms; the one place events leave the server
    store: DocumentStore | None = None  # the database behind the storage port (SQLite or MongoDB)
    broker: Broker | None = None  # cross-worker fan-out (in-process or Redis pub/sub)
    secrets: Secrets | None = None  # password hashing and token digests
    services: Services | None = field(default=None)  # the rules, built once the store is open
    background: list[BackgroundWorker] = field(default_factory=list)  # loops started after the services
    limiter: RateLimiter | None = None  # per-user token buckets (Redis when configured, else in-process)

    async def start(self) -> None:
        self.store = await open_store(self.settings)
        self.secrets = Secrets(self.settings)
        self.broker = self._make_broker()
        await self.hub.attach(self.broker)
        self.limiter = make_rate_limiter(self.settings)
        throttle = AuthThrottle(self.limiter, AuthRules.from_settings(self.settings))
        auth = AuthService(self.store, self.secrets, self.settings, self.hub, throttle)
        files = LocalFileStorage(self.settings.data_dir / "files")
        attachments = AttachmentService(self.store, files, self.settings, self.limiter)
        broadcasts = build_broadcasts(self.store, self.settings, self.hub)
        scheduling = build_scheduling(self.store, self.settings, hub=self.hub)
        self.services = Services(
            auth=auth,
            users=UserService(auth),
            api_keys=ApiKeyService(auth),
            attachments=attachments,
            broadcasts=broadcasts,
            scheduling=scheduling,
        )
        self.background.append(broadcasts)  # the delivery scheduler (a LeaseWorker) and its HTTP client
        self.background.append(AttachmentJanitor(attachments))
        wire_chat(self.services, self.store, self.settings, self.hub, self.limiter, attachments)
        self.services.accounts = AccountService(auth, make_mailer(self.settings))
        self.services.moderation = ModerationService(
            self.store, self.services.messages, attachments,
            retention_seconds=self.settings.moderation_retention_seconds,
            poll_seconds=self.settings.moderation_poll_seconds,
        )  # fmt: skip
        self.services.messages.moderation = self.services.moderation
        self.background.append(self.services.moderation)  # the purge LeaseWorker
        self.services.channel_deletion = ChannelDeletionService(
            self.store, self.services.channels, attachments, poll_seconds=self.settings.moderation_poll_seconds
        )
        self.background.append(self.services.channel_deletion)  # empties deleted channels (LeaseWorker)
        self._wire_direct_and_typing(self.services, attachments)
        self.services.voice = VoiceService(
            self.services.chat, self.hub, self.limiter, heartbeat_seconds=self.settings.voice_heartbeat_seconds
        )
        self.background.append(self.services.voice)  # catches up with calls already going on
        await self._repair_message_logs()
        # scheduled messages reach channels and direct conversations through the chat core
        broadcasts.attach_chat(ChatCorePoster(self.store, self.services.messages, self.services.direct))
        scheduling.attach_chat(self.store, self.services.direct)  # reminders as direct messages
        self.background.append(SchedulingWorker(scheduling))  # worker jobs on the shared lease queue
        self.services.calendar = build_calendar(
            self.store, self.secrets, self.hub, chat_poster(self.store, self.services.messages),
            export_dir=self.settings.data_dir / "exports", public_url=self.settings.public_url,
            max_ics_bytes=self.settings.calendar_ics_max_bytes, poll_seconds=self.settings.calendar_poll_seconds,
        )  # fmt: skip
        self.background.extend(self.services.calendar.workers)  # reminders and admin exports (lease queues)
        scheduling.attach_public(
            self.secrets.digest, throttle.request, self.settings.public_url, host_busy(self.services.calendar.events)
        )  # public booking pages count the host's calendar events as busy
        self.services.presence = self._make_presence()
        self.background.append(self.services.presence)  # heartbeats and the sweeper
        self.services.messages.notifier.statuses = presence_statuses(self.services.presence)  # @here, BUSY
        svc = self.services
        svc.sync = SyncService(svc.chat, svc.messages, svc.direct, self.hub.metrics, self.settings.sync_max_messages)
        svc.dashboard = DashboardService(self.store, self.hub, svc.presence, self.settings.dashboard_interval_seconds)
        self.background.append(svc.dashboard)
        svc.operators = OperatorService(self.store, svc.users)
        self._watch_metrics()
        for worker in self.background:
            await worker.start()
        log.info(
            "ConnectNow started: storage=%s broker=%s env=%s",
            self.store.kind,
            self.broker.name,
            self.settings.env.value,
        )

    def _wire_direct_and_typing(self, services: Services, attachments: AttachmentService) -> None:
        """Direct messages (after the chat core, whose limits they share) and typing indicators."""
        assert self.store is not None and self.limiter is not None
        services.direct = DirectService(
            self.store, self.hub, self.limiter, attachments, max_chars=self.settings.message_max_chars
        )
        services.typing = TypingService(
            self.hub,
            self.limiter,
            channel_gate(services.chat, services.messages),
            direct_gate(services.direct),
            expiry_secs=self.settings.typing_expiry_seconds,
        )
        services.direct.after_send = services.typing.direct_message_sent
        services.direct.gate = DirectGate(
            self.store, require_shared_workspace=self.settings.dm_require_shared_workspace
        )  # blocks, shared workspaces, bans
        services.direct_extras = DirectExtrasService(self.store, services.direct)
        services.direct.reaction_summaries = services.direct_extras.reactions.summaries
        # A deleted channel message's files are no longer served, whoever asks.
        # (Kept for review until the purge: the author and ADMIN+ still may.)
        reader = with_kept_files(live_channel_reader(services.messages), services.moderation)
        attachments.register_reader(ConversationKind.CHANNEL, reader)
        self.background.append(services.typing)

    async def _repair_message_logs(self) -> None:
        """Count repairs in /metrics, and repair what a crashed worker left half-written before serving."""
        assert self.services is not None
        repairs = self.hub.metrics.repairs
        for message_log in (self.services.messages.log, self.services.direct.log):
            message_log.on_repair = lambda scope, n: repairs.labels(scope).inc(n)
            visited = await message_log.repair_all()
            if visited:
                log.warning("start-up repair visited %d %s conversation(s)", visited, message_log.scope)

    def _make_presence(self) -> PresenceService:
        from connectnow.realtime.presence import PresenceBackend
        from connectnow.repositories.workspaces import WorkspaceMemberRepository

        backend: PresenceBackend
        if self.settings.redis_url:
            from connectnow.realtime.presence_redis import RedisPresence

            backend = RedisPresence(self.settings.redis_url, self.settings.redis_prefix)
        else:
            from connectnow.realtime.presence_memory import MemoryPresence

            backend = MemoryPresence()
        members = WorkspaceMemberRepository(self.store_)

        async def workspaces_of(user_id: str) -> list[str]:
            return [m.workspace_id for m in await members.for_user(user_id)]

        async def workspace_size(workspace_id: str) -> int:
            return await members.count({"workspaceId": workspace_id})

        return PresenceService(backend, self.hub, self.settings, workspaces_of, workspace_size)

    def _watch_metrics(self) -> None:
        metrics = self.hub.metrics
        metrics.watch(metrics.connected_sockets, lambda: len(self.hub.connections))
        broker = self.broker
        metrics.watch(metrics.listener_restarts, lambda: getattr(broker, "listener_restarts", 0))
        metrics.watch(metrics.publish_failures, lambda: getattr(broker, "publish_failures", 0))
        from connectnow.realtime.broker_redis import RedisBroker

        if isinstance(broker, RedisBroker):
            broker.on_lag = metrics.pubsub_lag.observe

    @property
    def store_(self) -> DocumentStore:
        if self.store is None:
            raise RuntimeError("node not started")
        return self.store

    def _make_broker(self) -> Broker:
        if self.settings.redis_url:
            from connectnow.realtime.broker_redis import RedisBroker

            return RedisBroker(self.settings.redis_url, self.settings.redis_prefix)
        return MemoryBroker()

    async def stop(self) -> None:
        for worker in reversed(self.background):
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
