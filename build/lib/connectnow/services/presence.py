"""Presence rules (seed 002 USER_PRESENCE, "User Goes Offline"), written once over a PresenceBackend.

A user's status is the aggregate over all their sockets, on every worker:
- no live connection: OFFLINE, but only after a grace period, so a page reload does not flap;
- a status the user chose (BUSY, or AWAY) and that has not expired: that status;
- activity on ANY socket within `presence_away_after_seconds`: ONLINE (one idle device cannot mark a busy
  user away); otherwise AWAY.

Each worker keeps its own sockets' activity in memory and renews their entries on every heartbeat; a
sweeper re-evaluates its local users (AWAY transitions, expired choices) and every user whose entries may
have lapsed (a crashed worker's users). A change is published once, by whichever worker's swap of the
recorded state succeeds, to the members of the user's workspaces and to the user's own sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson

from connectnow import errors
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.realtime.hub import Hub, user_room
from connectnow.realtime.presence import Override, PresenceBackend, PresenceStatus
from connectnow.realtime.tasks import bounded, raise_if_cancelling, stop_task
from models.presence import PresencePublic, PresenceQuery, PresenceSet

log = logging.getLogger("connectnow.presence")

DUE_BATCH = 500
PRESENCE_EVENT = "presence:changed"

# Which workspaces a user belongs to: presence changes go to those members only.
WorkspacesOf = Callable[[str], Awaitable[list[str]]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _to_dt(ms: int | None) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(ms / 1000, tz=UTC)


class PresenceService:
    def __init__(self, backend: PresenceBackend, hub: Hub, settings: Settings, workspaces_of: WorkspacesOf) -> None:
        self.backend = backend
        self.hub = hub
        self.workspaces_of = workspaces_of
        self.away_ms = int(settings.presence_away_after_seconds * 1000)
        self.grace_ms = int(settings.presence_offline_grace_seconds * 1000)
        self.ttl_ms = int(settings.presence_ttl_seconds * 1000)
        self.heartbeat_s = settings.presence_heartbeat_seconds
        self.sweep_s = settings.presence_sweep_seconds
        self._local: dict[str, dict[str, int]] = defaultdict(dict)  # user -> sid -> last activity (this worker)
        self._task: asyncio.Task[None] | None = None
        self.changes_published = 0

    # --- sockets on this worker --------------------------------------------------------------------------
    async def connected(self, user_id: str, sid: str) -> None:
        now = now_ms()
        self._local[user_id][sid] = now
        await self.backend.add_connection(user_id, sid, now, self.ttl_ms)
        await self.evaluate(user_id)

    async def disconnected(self, user_id: str, sid: str) -> None:
        sids = self._local.get(user_id)
        if sids is not None:
            sids.pop(sid, None)
            if not sids:
                del self._local[user_id]
        await self.backend.remove_connection(user_id, sid, now_ms() + self.grace_ms)

    def touch(self, user_id: str, sid: str) -> None:
        """Activity on a socket (any event it sends). Kept in memory; written with the next heartbeat."""
        sids = self._local.get(user_id)
        if sids is not None and sid in sids:
            previous = sids[sid]
            sids[sid] = now_ms()
            if previous < sids[sid] - self.away_ms:  # was idle: let the user come back at once
                self._spawn_evaluate(user_id)

    def _spawn_evaluate(self, user_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._flush_and_evaluate(user_id))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _flush_and_evaluate(self, user_id: str) -> None:
        await self.backend.heartbeat({user_id: dict(self._local.get(user_id, {}))}, now_ms(), self.ttl_ms)
        await self.evaluate(user_id)

    # --- what a user chooses and asks ----------------------------------------------------------------------
    async def set_status(self, user_id: str, data: PresenceSet) -> PresencePublic:
        until = now_ms() + data.expires_in_seconds * 1000 if data.expires_in_seconds else 0
        chosen = None if data.status == "ONLINE" else PresenceStatus(data.status)
        await self.backend.set_override(user_id, Override(chosen, data.status_text, until))
        return await self.evaluate(user_id)

    async def query(self, viewer_id: str, data: PresenceQuery) -> list[PresencePublic]:
        """Presence of the listed users who share a workspace with the viewer (others are left out)."""
        visible = await self._visible_to(viewer_id, list(dict.fromkeys(data.user_ids)))
        states = await self.backend.get_states(visible)
        return [self.decode(uid, states.get(uid)) for uid in visible]

    async def _visible_to(self, viewer_id: str, user_ids: list[str]) -> list[str]:
        mine = set(await self.workspaces_of(viewer_id))
        visible = []
        for uid in user_ids:
            if uid == viewer_id or mine.intersection(await self.workspaces_of(uid)):
                visible.append(uid)
        return visible

    # --- evaluation ---------------------------------------------------------------------------------------
    async def evaluate(self, user_id: str) -> PresencePublic:
        """Compute the user's status now; publish it if it changed (exactly one worker does)."""
        now = now_ms()
        conns = await self.backend.live_connections(user_id, now)
        override = await self.backend.get_override(user_id)
        in_force = override.until_ms == 0 or override.until_ms > now
        chosen = override.status if in_force else None
        last_active = _to_dt(max((c.last_activity_ms for c in conns), default=0))
        if not conns:
            status = PresenceStatus.OFFLINE
            last_active = await self._last_known_activity(user_id)
        elif chosen is not None:
            status = chosen
        else:
            recent = last_active is not None and (now - last_active.timestamp() * 1000) < self.away_ms
            status = PresenceStatus.ONLINE if recent else PresenceStatus.AWAY
        current = PresencePublic(
            user_id=user_id,
            status=status.value,
            status_text=override.text if in_force else None,
            last_active_at=last_active,
        )
        await self._publish_if_changed(user_id, current)
        return current

    async def _last_known_activity(self, user_id: str) -> datetime | None:
        """When the user was last seen active, from the last published state (step 4 of the seed's flow)."""
        raw = (await self.backend.get_states([user_id])).get(user_id)
        return None if raw is None else self.decode(user_id, raw).last_active_at

    async def _publish_if_changed(self, user_id: str, current: PresencePublic) -> None:
        key = orjson.dumps([current.status, current.status_text]).decode()
        record = orjson.dumps(current.model_dump(mode="json", by_alias=True)).decode()
        if not await self.backend.swap_state(user_id, key, record):
            return
        rooms = [user_room(user_id)] + [f"workspace:{wid}" for wid in await self.workspaces_of(user_id)]
        await self.hub.emit(PRESENCE_EVENT, current, room=rooms)
        self.changes_published += 1

    @staticmethod
    def decode(user_id: str, raw: str | None) -> PresencePublic:
        if raw is None:
            return PresencePublic(user_id=user_id, status="OFFLINE")
        return PresencePublic.model_validate(orjson.loads(raw))

    # --- the background loop ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence-sweeper")

    async def stop(self) -> None:
        await stop_task(self._task)
        await bounded(self.backend.close(), "closing the presence back-end")

    async def _run(self) -> None:
        last_heartbeat = 0.0
        while True:
            try:
                if time.monotonic() - last_heartbeat >= self.heartbeat_s:
                    await self.backend.heartbeat({u: dict(s) for u, s in self._local.items()}, now_ms(), self.ttl_ms)
                    last_heartbeat = time.monotonic()
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("presence sweep failed; trying again")
            await asyncio.sleep(self.sweep_s)

    async def sweep(self) -> None:
        counts = dict.fromkeys((s.value for s in PresenceStatus), 0)
        for user_id in list(self._local):
            counts[(await self.evaluate(user_id)).status] += 1
        for status, count in counts.items():
            self.hub.metrics.users_by_status.labels(status).set(count)
        for user_id in await self.backend.due_users(now_ms(), DUE_BATCH):
            result = await self.evaluate(user_id)
            if result.status == PresenceStatus.OFFLINE.value:
                await self.backend.forget_user(user_id)
            else:
                await self.backend.schedule_check(user_id, now_ms() + self.ttl_ms)


def require_presence(service: PresenceService | None) -> PresenceService:
    if service is None:
        raise AppError(errors.UNAVAILABLE, "Presence is not running")
    return service
