"""The operators' dashboard: live numbers for administrators, over Socket.IO.

- Each worker publishes its own numbers (sockets, messages per second) every interval to the `dashboard`
  room, so a dashboard sees every worker whichever one it is connected to.
- Presence per workspace is computed by the worker that serves the dashboard socket, from the shared
  presence state, and sent to its local dashboard sockets only.
- Connects and disconnects are announced to the room as they happen (the last ones are kept per worker).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter, deque
from typing import Any

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.realtime.hub import Hub
from connectnow.realtime.tasks import raise_if_cancelling, stop_task
from connectnow.repositories.workspaces import WorkspaceMemberRepository, WorkspaceRepository
from connectnow.services.auth import Principal
from connectnow.services.presence import PresenceService
from connectnow.store.port import DocumentStore

log = logging.getLogger("connectnow.dashboard")

DASHBOARD_ROOM = "dashboard"
MAX_WORKSPACES = 50
MAX_MEMBERS_PER_WORKSPACE = 2000
RECENT_CONNECTIONS = 50


class DashboardService:
    def __init__(self, store: DocumentStore, hub: Hub, presence: PresenceService, interval_seconds: float) -> None:
        self.hub = hub
        self.presence = presence
        self.workspaces = WorkspaceRepository(store)
        self.members = WorkspaceMemberRepository(store)
        self.interval = interval_seconds
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
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
                "recent": list(self.recent)}  # fmt: skip

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
            states = await self.presence.backend.get_states(member_ids)
            counts = Counter(self.presence.decode(uid, states.get(uid)).status for uid in member_ids)
            result.append({"workspaceId": ws.id, "name": ws.name, "members": len(member_ids),
                           "online": counts["ONLINE"], "away": counts["AWAY"], "busy": counts["BUSY"]})  # fmt: skip
        return result

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dashboard")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
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
