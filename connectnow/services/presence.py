"""Presence rules (seed 002 USER_PRESENCE, "User Goes Offline"), written once over a PresenceBackend.

A user's status is the aggregate over all their sockets, on every worker:
- no live connection: OFFLINE, but only after a grace period, so a page reload does not flap;
- a status the user chose (BUSY, or AWAY) and that has not expired: that status;
- activity on ANY socket within `presence_away_after_seconds`: ONLINE (one idle device cannot mark a busy
  user away); otherwise AWAY.

Truth first:
- A worker always counts its own open sockets as live, whatever the back-end says: a user with an open
  socket is never announced OFFLINE, even right after Redis lost its data.
- Each heartbeat re-creates this worker's entries, so after a Redis restart every worker has re-registered
  within one heartbeat; while the back-end heals (`heal_ms`) no entry is treated as lapsed.
- While Redis cannot be reached the service is "degraded": connects still succeed, each worker answers from
  its own sockets and the last states it saw, nothing is announced, and one line is logged per change of
  state. When Redis answers again, the worker re-registers its sockets, replays the closes it saw, and its
  next sweep announces whatever changed.
- A closed socket lingers for the grace period and then lapses; the sweep looks at the user at that moment,
  so OFFLINE comes within grace + one sweep on every back-end.

Who hears a change (`presence:changed`, one broker message per change): the user's own sockets, the
sockets that subscribed to the user (`presence:subscribe`, Slack's presence_sub), and every member of the
user's workspaces of at most `presence_broadcast_max_members` members. Announcing every change to every
member of a large workspace costs members x sockets (a 1,000-member workspace reconnecting 10,000 sockets:
10 million writes); with subscriptions the cost of a change is bounded by its subscribers, so a reconnect
storm is linear in sockets. Reads, swaps and reschedules are one pipeline per batch of users.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import orjson

from connectnow import errors
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.realtime.hub import Hub, user_room
from connectnow.realtime.presence import (
    NO_OVERRIDE,
    SWAP_CHANGED,
    Close,
    Override,
    PresenceBackend,
    PresenceStatus,
    PresenceUnavailable,
    Swap,
    UserView,
)
from connectnow.realtime.rooms import subscribers_room, workspace_room
from connectnow.realtime.tasks import bounded, raise_if_cancelling, stop_task
from models.presence import PresencePublic, PresenceQuery, PresenceSet, PresenceSubscribe

log = logging.getLogger("connectnow.presence")

BATCH = 500  # users per pipeline
DUE_BATCH = 2000
KNOWN_LIMIT = 100_000  # last states seen of other workers' users, served while degraded
PRESENCE_EVENT = "presence:changed"
SIZE_CACHE_SECONDS = 60.0  # how long a workspace's member count is trusted (it decides who hears changes)

# Which workspaces a user belongs to, and how many members a workspace has.
WorkspacesOf = Callable[[str], Awaitable[list[str]]]
WorkspaceSize = Callable[[str], Awaitable[int]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _to_dt(ms: int) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _to_ms(when: datetime | None) -> int:
    return 0 if when is None else int(when.timestamp() * 1000)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PresenceService:
    def __init__(
        self,
        backend: PresenceBackend,
        hub: Hub,
        settings: Settings,
        workspaces_of: WorkspacesOf,
        workspace_size: WorkspaceSize | None = None,
    ) -> None:
        self.backend = backend
        self.hub = hub
        self.workspaces_of = workspaces_of
        self.workspace_size = workspace_size
        self.broadcast_max = settings.presence_broadcast_max_members
        self._sizes: dict[str, tuple[float, int]] = {}  # workspace -> (when counted, members)
        self._subscriptions: dict[str, set[str]] = {}  # this worker's sockets -> users they subscribed to
        self.away_ms = int(settings.presence_away_after_seconds * 1000)
        self.grace_ms = int(settings.presence_offline_grace_seconds * 1000)
        self.ttl_ms = int(settings.presence_ttl_seconds * 1000)
        self.heartbeat_s = settings.presence_heartbeat_seconds
        self.sweep_s = settings.presence_sweep_seconds
        self.throttle_ms = int(settings.presence_last_active_write_seconds * 1000)
        # After data loss or an outage: long enough for every worker's next heartbeat and a sweep.
        self.heal_ms = int((self.heartbeat_s + 2 * self.sweep_s) * 1000)
        self._local: dict[str, dict[str, int]] = defaultdict(dict)  # user -> sid -> last activity (this worker)
        self._closed: dict[str, Close] = {}  # closes since the last heartbeat, which replays them
        self._overrides: dict[str, Override] = {}  # this worker's users' choices, served while degraded
        self._unsynced_overrides: dict[str, Override] = {}  # chosen while degraded: written on return
        self._known: dict[str, PresencePublic] = {}  # last state seen per user
        self._heal_until_ms = 0
        self._beats = 0  # successful heartbeats: data missing at the first one is a fresh start, not a loss
        self.degraded: str | None = None  # why the back-end is unreachable; None when it answers
        self._tasks: list[asyncio.Task[None]] = []
        self.changes_published = 0  # status changes this worker announced (one broker message each)

    # --- sockets on this worker --------------------------------------------------------------------------
    async def connected(self, user_id: str, sid: str) -> None:
        now = now_ms()
        self._local[user_id][sid] = now
        if self.degraded is not None:
            return  # served from this worker's view; registered when Redis returns
        try:
            await self.backend.add_connection(user_id, sid, now, self.ttl_ms)
        except PresenceUnavailable as exc:
            self._degrade(exc)
            return
        await self.evaluate(user_id)

    async def disconnected(self, user_id: str, sid: str) -> None:
        self._subscriptions.pop(sid, None)  # its rooms went with the socket
        sids = self._local.get(user_id)
        activity = now_ms()
        if sids is not None:
            activity = sids.pop(sid, activity)
            if not sids:
                del self._local[user_id]
        # Kept until the next heartbeat, which replays it: a heartbeat already under way may have re-created
        # the entry, and while degraded this is the only record of the close.
        self._closed[sid] = close = Close(user_id, sid, activity, now_ms() + self.grace_ms)
        if self.degraded is None:
            try:
                await self.backend.remove_connections([close])
            except PresenceUnavailable as exc:
                self._degrade(exc)

    async def socket_count(self, user_id: str) -> int:
        """The user's sockets on every worker (the cap per user), this worker's counted at once."""
        local = len(self._local.get(user_id, ()))
        if self.degraded is not None:
            return local  # while Redis is down the cap counts this worker's sockets only
        now = now_ms()
        try:
            view = (await self.backend.read([user_id], now)).get(user_id)
        except PresenceUnavailable as exc:
            self._degrade(exc)
            return local
        # A closed socket stays in the store for the grace period (presence), but it is no longer open: an entry
        # that lapses within the grace period is a close, an open one is renewed a TTL ahead at each heartbeat.
        open_elsewhere = [
            c for c in (view.live if view else []) if c.sid not in self._closed and c.expires_ms - now > self.grace_ms
        ]
        return max(len(open_elsewhere), local)

    def touch(self, user_id: str, sid: str) -> None:
        """Activity on a socket (any event it sends). Kept in memory; written by the sweep (throttled)."""
        sids = self._local.get(user_id)
        if sids is not None and sid in sids:
            previous = sids[sid]
            sids[sid] = now_ms()
            if previous < sids[sid] - self.away_ms:  # was idle: let the user come back at once
                self._spawn_evaluate(user_id)

    def _spawn_evaluate(self, user_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.evaluate(user_id))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    # --- what a user chooses and asks ----------------------------------------------------------------------
    async def set_status(self, user_id: str, data: PresenceSet) -> PresencePublic:
        until = now_ms() + data.expires_in_seconds * 1000 if data.expires_in_seconds else 0
        chosen = None if data.status == "ONLINE" else PresenceStatus(data.status)
        override = Override(chosen, data.status_text, until)
        self._overrides[user_id] = override
        try:
            if self.degraded is not None:
                raise PresenceUnavailable(self.degraded)
            await self.backend.set_override(user_id, override)
        except PresenceUnavailable as exc:
            self._degrade(exc)
            self._unsynced_overrides[user_id] = override
        return await self.evaluate(user_id)

    async def query(self, viewer_id: str, data: PresenceQuery) -> list[PresencePublic]:
        """Presence of the listed users who share a workspace with the viewer (others are left out)."""
        visible = await self._visible_to(viewer_id, list(dict.fromkeys(data.user_ids)))
        return list((await self.states(visible)).values())

    async def states(self, user_ids: list[str]) -> dict[str, PresencePublic]:
        """The published state of each user; this worker's own connected users are never OFFLINE here."""
        raw: dict[str, str] = {}
        if self.degraded is None:
            try:
                raw = await self.backend.get_states(user_ids)
            except PresenceUnavailable as exc:
                self._degrade(exc)
        if self.degraded is not None:
            return {uid: self._local_view(uid, now_ms()) for uid in user_ids}
        result: dict[str, PresencePublic] = {}
        for uid in user_ids:
            stored = self.decode(uid, raw.get(uid))
            if uid in self._local and stored.status == PresenceStatus.OFFLINE.value:
                stored = self._local_view(uid, now_ms())  # lost with Redis's data, not yet re-published
            elif uid not in raw and now_ms() < self._heal_until_ms and uid in self._known:
                stored = self._known[uid]  # another worker re-publishes it within the heal window
            result[uid] = stored
            self._remember(uid, stored)
        return result

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
        return (await self._evaluate([user_id]))[user_id][0]

    async def _evaluate(self, user_ids: list[str]) -> dict[str, tuple[PresencePublic, int | None]]:
        """Each user's state, and when to look at them again (None: offline, nothing left to watch)."""
        now = now_ms()
        if self.degraded is None:
            try:
                views = await self.backend.read(user_ids, now)
                results = {uid: self._compute(uid, views[uid], now) for uid in user_ids}
                await self._publish(results)
                return {uid: (state, self._next_check(uid, views[uid], now)) for uid, state in results.items()}
            except PresenceUnavailable as exc:
                self._degrade(exc)
        return {uid: (self._local_view(uid, now), None) for uid in user_ids}

    def _next_check(self, user_id: str, view: UserView, now: int) -> int | None:
        if view.live:
            return min(c.expires_ms for c in view.live)
        return now + self.ttl_ms if user_id in self._local else None

    def _compute(self, user_id: str, view: UserView, now: int) -> PresencePublic:
        activity = {c.sid: c.last_activity_ms for c in view.live}
        for sid, ts in self._local.get(user_id, {}).items():  # our own sockets are live, whatever Redis says
            activity[sid] = max(activity.get(sid, 0), ts)
        if user_id in self._local:
            self._overrides[user_id] = view.override
        return self._state(user_id, activity, view.override, view.record, view.lapsed_activity_ms, now)

    def _local_view(self, user_id: str, now: int) -> PresencePublic:
        """What this worker alone knows: its own sockets, else the last state it saw."""
        if user_id not in self._local:
            return self._known.get(user_id) or self.decode(user_id, None)
        override = self._overrides.get(user_id, NO_OVERRIDE)
        state = self._state(user_id, dict(self._local[user_id]), override, None, 0, now)
        self._remember(user_id, state)
        return state

    def _state(
        self, user_id: str, activity: dict[str, int], override: Override, record: str | None, lapsed: int, now: int
    ) -> PresencePublic:
        in_force = override.until_ms == 0 or override.until_ms > now
        chosen = override.status if in_force else None
        last_active = max(activity.values(), default=0)
        if not activity:
            status = PresenceStatus.OFFLINE
            previous = self._known.get(user_id) if record is None else self.decode(user_id, record)
            last_active = max(lapsed, _to_ms(previous.last_active_at) if previous else 0)
        elif chosen is not None:
            status = chosen
        else:
            status = PresenceStatus.ONLINE if now - last_active < self.away_ms else PresenceStatus.AWAY
        return PresencePublic(
            user_id=user_id,
            status=status.value,
            status_text=override.text if in_force else None,
            last_active_at=_to_dt(last_active),
        )

    async def _publish(self, results: dict[str, PresencePublic]) -> None:
        swaps = [
            Swap(
                uid,
                orjson.dumps([state.status, state.status_text]).decode(),
                _to_ms(state.last_active_at),
                orjson.dumps(state.model_dump(mode="json", by_alias=True)).decode(),
                state.status == PresenceStatus.OFFLINE.value,
            )
            for uid, state in results.items()
        ]
        outcomes = await self.backend.swap_states(swaps, self.throttle_ms)
        for (uid, state), outcome in zip(results.items(), outcomes, strict=True):
            self._remember(uid, state)
            if outcome == SWAP_CHANGED:
                await self._announce(uid, state)

    def _remember(self, user_id: str, state: PresencePublic) -> None:
        if len(self._known) >= KNOWN_LIMIT and user_id not in self._known:
            self._known.clear()
        self._known[user_id] = state

    async def _announce(self, user_id: str, state: PresencePublic) -> None:
        """One message to the user's own sockets, their subscribers, and the members of small workspaces."""
        rooms = [user_room(user_id), subscribers_room(user_id)]
        for workspace_id in await self.workspaces_of(user_id):
            if await self._size(workspace_id) <= self.broadcast_max:
                rooms.append(workspace_room(workspace_id))
        await self.hub.emit(PRESENCE_EVENT, state, room=rooms)
        self.changes_published += 1
        self.hub.metrics.presence_changes.inc()

    async def _size(self, workspace_id: str) -> int:
        if self.workspace_size is None:
            return 0
        cached = self._sizes.get(workspace_id)
        if cached is None or time.monotonic() - cached[0] > SIZE_CACHE_SECONDS:
            cached = (time.monotonic(), await self.workspace_size(workspace_id))
            self._sizes[workspace_id] = cached
        return cached[1]

    # --- subscriptions ------------------------------------------------------------------------------------
    async def subscribe(self, viewer_id: str, sid: str, data: PresenceSubscribe) -> list[PresencePublic]:
        """Replace the socket's subscriptions: it hears the changes of these users (those sharing a workspace
        with the viewer; others are left out) until it subscribes again or closes. Answers their states."""
        visible = await self._visible_to(viewer_id, list(dict.fromkeys(data.user_ids)))
        previous = self._subscriptions.get(sid, set())
        for uid in previous - set(visible):
            await self.hub.sio.leave_room(sid, subscribers_room(uid))
        for uid in set(visible) - previous:
            await self.hub.sio.enter_room(sid, subscribers_room(uid))
        self._subscriptions[sid] = set(visible)
        return list((await self.states(visible)).values())

    @staticmethod
    def decode(user_id: str, raw: str | None) -> PresencePublic:
        if raw is None:
            return PresencePublic(user_id=user_id, status="OFFLINE")
        return PresencePublic.model_validate(orjson.loads(raw))

    async def recheck_subscriptions(self) -> None:
        """Drop the subscriptions whose users no longer share a workspace with the subscriber (a leave, a
        kick): run with every heartbeat, so what a socket hears follows what its user may see."""
        cache: dict[str, set[str]] = {}

        async def workspaces(user_id: str) -> set[str]:
            if user_id not in cache:
                cache[user_id] = set(await self.workspaces_of(user_id))
            return cache[user_id]

        for sid, users in list(self._subscriptions.items()):
            conn = self.hub.connection(sid)
            if conn is None:
                self._subscriptions.pop(sid, None)
                continue
            mine = await workspaces(conn.user_id)
            gone = {uid for uid in users if uid != conn.user_id and not mine & await workspaces(uid)}
            for uid in gone:
                await self.hub.sio.leave_room(sid, subscribers_room(uid))
            users -= gone

    # --- the back-end's health --------------------------------------------------------------------------
    def _degrade(self, exc: PresenceUnavailable) -> None:
        if self.degraded is None:  # one line per change of state, not one per failed call
            log.warning("presence degraded: Redis unreachable (%s); each worker serves its own view", exc)
            self.hub.metrics.presence_degraded.set(1)
        self.degraded = str(exc)

    def _recovered(self) -> None:
        sockets = sum(len(s) for s in self._local.values())
        log.warning("presence restored: re-registered %d sockets of %d users", sockets, len(self._local))
        self.degraded = None
        self.hub.metrics.presence_degraded.set(0)

    # --- the background loops ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.hub.metrics.presence_degraded.set(0)
        self._tasks = [asyncio.create_task(self._run(), name="presence-sweeper")]

    async def stop(self) -> None:
        for task in self._tasks:
            await stop_task(task)
        await bounded(self.backend.close(), "closing the presence back-end")

    async def _run(self) -> None:
        last_heartbeat = 0.0
        while True:
            try:
                if self.degraded is not None or time.monotonic() - last_heartbeat >= self.heartbeat_s:
                    await self.recheck_subscriptions()
                    await self.heartbeat()
                    last_heartbeat = time.monotonic()
                await self.sweep()
            except PresenceUnavailable as exc:
                self._degrade(exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("presence sweep failed; trying again")
            await asyncio.sleep(self.sweep_s)

    async def heartbeat(self) -> None:
        """Re-create and extend this worker's entries, replay closes and choices; raises PresenceUnavailable."""
        live = {user: dict(sids) for user, sids in self._local.items()}
        closed = dict(self._closed)
        overrides = dict(self._unsynced_overrides)
        lost = await self.backend.heartbeat(live, now_ms(), self.ttl_ms)
        await self.backend.remove_connections(list(closed.values()))
        for sid, close in closed.items():
            if self._closed.get(sid) == close:
                del self._closed[sid]
        for user_id, override in overrides.items():
            await self.backend.set_override(user_id, override)
            if self._unsynced_overrides.get(user_id) == override:
                del self._unsynced_overrides[user_id]
        if (lost and self._beats > 0) or self.degraded is not None:  # not at the very first start
            self._heal_until_ms = now_ms() + self.heal_ms
            await self.backend.heal(self._heal_until_ms)
        self._beats += 1
        if self.degraded is not None:
            self._recovered()

    async def sweep(self) -> None:
        """Re-evaluate this worker's users (idle -> AWAY, expired choices, lastActiveAt) and the users whose
        entries may have lapsed (closed sockets past their grace, crashed workers)."""
        counts = dict.fromkeys((s.value for s in PresenceStatus), 0)
        for chunk in _chunks(list(self._local), BATCH):
            for state, _ in (await self._evaluate(chunk)).values():
                counts[state.status] += 1
        for status, count in counts.items():
            self.hub.metrics.users_by_status.labels(status).set(count)
        if self.degraded is not None:
            return
        now = now_ms()
        due = await self.backend.due_users(now, DUE_BATCH)
        for chunk in _chunks(due, BATCH):
            evaluated = await self._evaluate(chunk)
            if self.degraded is not None:
                return
            await self.backend.reschedule({uid: at for uid, (_, at) in evaluated.items()}, now)


def require_presence(service: PresenceService | None) -> PresenceService:
    if service is None:
        raise AppError(errors.UNAVAILABLE, "Presence is not running")
    return service
