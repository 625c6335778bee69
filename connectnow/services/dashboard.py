"""The operators' dashboard: live numbers for administrators, over Socket.IO.

- Each worker publishes its own numbers (sockets, messages per second) every interval to the `dashboard`
  room, so a dashboard sees every worker whichever one it is connected to.
- Presence per workspace is computed by the worker that serves the dashboard socket, from the shared
  presence state, and sent to its local dashboard sockets only.
- Connects and disconnects are announced to the room as they happen (the last ones are kept per worker).
- Every interval each worker also takes a metrics sample (dashboard_history.py) and publishes it, with its
  health, to every worker over the broker; each worker keeps every worker's last 15 minutes in memory and
  passes new samples to its own dashboard sockets. A worker that starts asks the others for their history.
- Drill-down: a workspace's members with their presence, searched and paged on the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
import time
from collections import Counter, deque
from typing import Any

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.realtime.hub import Hub
from connectnow.realtime.rooms import DASHBOARD_ROOM
from connectnow.realtime.tasks import raise_if_cancelling, stop_task
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.workspaces import WorkspaceMemberRepository, WorkspaceRepository
from connectnow.services.auth import Principal
from connectnow.services.dashboard_history import ClusterHistory, Sampler
from connectnow.services.presence import PresenceService, now_ms
from connectnow.services.users import require_admin
from connectnow.store.port import DocumentStore
from models.dashboard import MemberRow, MembersPage, MembersQuery

log = logging.getLogger("connectnow.dashboard")

MAX_WORKSPACES = 50
MAX_MEMBERS_PER_WORKSPACE = 2000
RECENT_CONNECTIONS = 50
HISTORY_OP = "dashboard"  # the broker operation that carries samples between workers
HEALTH_EVERY_SECONDS = 5.0  # how often the broker is probed for the worker's health
MAX_MEMBERS_SCANNED = 20_000  # a search looks at this many members of a workspace at most
SEARCH_BATCH = 500


def _uvloop_version() -> str | None:
    try:
        import uvloop
    except ImportError:
        return None
    return str(uvloop.__version__)


class DashboardService:
    def __init__(self, store: DocumentStore, hub: Hub, presence: PresenceService, interval_seconds: float) -> None:
        self.hub = hub
        self.presence = presence
        self.store = store
        self.workspaces = WorkspaceRepository(store)
        self.members = WorkspaceMemberRepository(store)
        self.users = UserRepository(store)
        self.interval = interval_seconds
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = utcnow()
        self.history = ClusterHistory(interval_seconds)
        self._sampler = Sampler(hub.metrics)
        self._health: dict[str, Any] = {}
        self._health_at = 0.0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_CONNECTIONS)
        self._watchers: set[str] = set()  # this worker's dashboard sockets
        self._task: asyncio.Task[None] | None = None
        self._last_messages = 0
        self._last_time = time.monotonic()

    async def subscribe(self, principal: Principal, sid: str) -> dict[str, Any]:
        if not principal.user.is_admin:
            raise AppError(errors.ADMIN_REQUIRED)
        self._watchers.add(sid)
        await self.hub.sio.enter_room(sid, DASHBOARD_ROOM)
        return {"worker": self.worker_stats(), "workspaces": await self.presence_by_workspace(),
                "recent": list(self.recent), "history": self.history.snapshot(),
                "intervalSeconds": self.interval}  # fmt: skip

    def workers(self, principal: Principal) -> list[dict[str, Any]]:
        """Every worker's health and samples, as this worker has them (drill-down: a worker)."""
        require_admin(principal)
        return self.history.snapshot()

    def forget(self, sid: str) -> None:
        self._watchers.discard(sid)

    async def connection_event(self, kind: str, principal: Principal, sid: str) -> None:
        entry = {"event": kind, "userId": principal.user_id, "username": principal.user.username,
                 "worker": self.worker_id, "at": utcnow().isoformat()}  # fmt: skip
        self.recent.append(entry)
        await self.hub.emit("dashboard:connection", entry, room=DASHBOARD_ROOM)

    def worker_stats(self) -> dict[str, Any]:
        now = time.monotonic()
        total = self.hub.messages_delivered
        elapsed = max(now - self._last_time, 1e-6)
        rate = (total - self._last_messages) / elapsed
        self._last_messages, self._last_time = total, now
        return {"worker": self.worker_id, "sockets": len(self.hub.connections), "messagesPerSecond": round(rate, 2),
                "at": utcnow().isoformat()}  # fmt: skip

    async def presence_by_workspace(self) -> list[dict[str, Any]]:
        result = []
        for ws in await self.workspaces.find({}, sort=[("createdAt", 1)], limit=MAX_WORKSPACES):
            member_ids = [m.user_id for m in await self.members.in_workspace(ws.id, limit=MAX_MEMBERS_PER_WORKSPACE)]
            states = await self.presence.states(member_ids)  # the same truth presence:query answers
            counts = Counter(state.status for state in states.values())
            result.append({"workspaceId": ws.id, "name": ws.name, "members": len(member_ids),
                           "online": counts["ONLINE"], "away": counts["AWAY"], "busy": counts["BUSY"]})  # fmt: skip
        return result

    # --- drill-down: a workspace's members ------------------------------------------------------------
    async def members_page(self, principal: Principal, query: MembersQuery) -> MembersPage:
        """One page of a workspace's members in the order their accounts were made (the member index's order,
        so a page costs the same at offset 9,950 as at 0); with `q`, those whose username or display name
        contains it."""
        require_admin(principal)
        if await self.workspaces.get(query.workspace_id) is None:
            raise AppError(errors.NOT_FOUND, "No such workspace")
        if query.q:
            matched = await self._search(query.workspace_id, query.q.casefold())
            total, page = len(matched), matched[query.offset : query.offset + query.limit]
        else:
            total = await self.members.count_in(query.workspace_id)
            rows = await self.members.page_by_user(query.workspace_id, offset=query.offset, limit=query.limit)
            page = [(r.user_id, r.role.value) for r in rows]
        return MembersPage(workspace_id=query.workspace_id, total=total, offset=query.offset,
                           members=await self._rows(page))  # fmt: skip

    async def _search(self, workspace_id: str, needle: str) -> list[tuple[str, str]]:
        """(user id, role) of the members whose username or display name contains the text (the store has no
        LIKE): members are read in batches, at most MAX_MEMBERS_SCANNED of them."""
        matched: list[tuple[str, str]] = []
        batch: dict[str, str] = {}
        scanned = 0
        async for row in self.members.iterate_by_user(workspace_id, batch_size=SEARCH_BATCH):
            batch[row.user_id] = row.role.value
            scanned += 1
            if len(batch) >= SEARCH_BATCH or scanned >= MAX_MEMBERS_SCANNED:
                matched += await self._matching(batch, needle)
                batch = {}
            if scanned >= MAX_MEMBERS_SCANNED:
                break
        matched += await self._matching(batch, needle)
        return sorted(matched)

    async def _matching(self, roles: dict[str, str], needle: str) -> list[tuple[str, str]]:
        if not roles:
            return []
        users = await self.users.by_ids(sorted(roles))
        return [(u.id, roles[u.id]) for u in users if needle in u.username_lower or needle in u.display_name.casefold()]

    async def _rows(self, page: list[tuple[str, str]]) -> list[MemberRow]:
        ids = [uid for uid, _ in page]
        users = {u.id: u for u in await self.users.by_ids(ids)}
        states = await self.presence.backend.get_states(ids)
        views = await self.presence.backend.read(ids, now_ms())
        rows = []
        for uid, role in page:
            user = users.get(uid)
            state = self.presence.decode(uid, states.get(uid))
            view = views.get(uid)
            devices = len(view.live) if view else 0
            rows.append(
                MemberRow(
                    user_id=uid, username=user.username if user else "", display_name=user.display_name if user else "",
                    role=role, status=state.status, status_text=state.status_text,
                    last_seen_at=state.last_active_at, devices=devices, is_banned=bool(user and user.is_banned),
                )
            )  # fmt: skip
        return rows

    # --- the metrics history, merged across workers ---------------------------------------------------
    async def _on_history(self, message: dict[str, Any]) -> None:
        kind, worker = message.get("kind"), message.get("worker")
        if not isinstance(worker, str):
            return
        if kind == "sample" and isinstance(message.get("sample"), dict):
            self.history.add(worker, message["sample"], message.get("health"))
            payload = {"worker": worker, "sample": message["sample"], "health": message.get("health") or {}}
            for sid in list(self._watchers):
                await self.hub.sio.emit("dashboard:sample", payload, to=sid)
        elif kind == "history" and isinstance(message.get("samples"), list):
            self.history.merge(worker, message["samples"], message.get("health"))
        elif kind == "hello" and worker != self.worker_id:
            own = self.history.own(self.worker_id)
            await self.hub.publish_op(
                HISTORY_OP, {"kind": "history", "worker": self.worker_id, "samples": own, "health": self._health}
            )

    async def health(self) -> dict[str, Any]:
        """This worker's health as the dashboard shows it (probes the broker, as /readyz does)."""
        broker = self.hub.broker
        checked = await broker.check() if broker is not None else None
        uptime = (utcnow() - self.started_at).total_seconds()
        return {
            "worker": self.worker_id, "broker": broker.name if broker is not None else "none",
            "brokerOk": bool(checked and checked.ok), "brokerDetail": checked.detail if checked else "not started",
            "listenerRestarts": checked.listener_restarts if checked else 0,
            "publishFailures": checked.publish_failures if checked else 0,
            "python": platform.python_version(), "uvloop": _uvloop_version(),
            "eventLoop": type(asyncio.get_running_loop()).__module__.split(".")[0],
            "startedAt": self.started_at.isoformat(), "uptimeSeconds": round(uptime), "pid": os.getpid(),
        }  # fmt: skip

    async def _take_sample(self, loop_lag: float) -> None:
        if time.monotonic() - self._health_at >= HEALTH_EVERY_SECONDS:
            self._health = await self.health()
            self._health_at = time.monotonic()
        self.hub.metrics.loop_lag.set(loop_lag)
        self.hub.metrics.loop_lag_samples.observe(max(0.0, loop_lag))
        sample = self._sampler.sample(len(self.hub.connections), loop_lag)
        health = {**self._health, "uptimeSeconds": round((utcnow() - self.started_at).total_seconds())}
        await self.hub.publish_op(
            HISTORY_OP, {"kind": "sample", "worker": self.worker_id, "sample": sample, "health": health}
        )
        self.history.prune()

    async def start(self) -> None:
        self.hub.on_op(HISTORY_OP, self._on_history)
        await self.hub.publish_op(HISTORY_OP, {"kind": "hello", "worker": self.worker_id})
        self._task = asyncio.create_task(self._run(), name="dashboard")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            asleep = time.monotonic()
            await asyncio.sleep(self.interval)
            loop_lag = time.monotonic() - asleep - self.interval  # how late the loop woke this timer
            try:
                await self._take_sample(loop_lag)
                await self.hub.emit("dashboard:worker", self.worker_stats(), room=DASHBOARD_ROOM)
                if self._watchers:
                    snapshot = await self.presence_by_workspace()
                    for sid in list(self._watchers):
                        await self.hub.sio.emit("dashboard:presence", snapshot, to=sid)
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("dashboard refresh failed; trying again")
