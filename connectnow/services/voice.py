"""VOICE channels: who is in each channel's call, and WebRTC signalling relayed between them.

Nothing here is stored. Every worker keeps the cluster's participant lists in memory, built from `voice`
broker operations: the worker that owns a socket decides each change (join, leave, mute), applies it at once
(so its acknowledgement already shows it), publishes it, and tells the channel's readers. The other workers
apply the same operation when it arrives; applying one twice changes nothing.

A participant is a user; the sockets they joined with are their sockets "in the call". Signalling for a user
goes to the room `voice:{channelId}:{userId}`, which only those sockets enter (on their own worker), so an
offer never reaches the target's other devices, nor anyone else. A socket is in at most one call.

A socket leaves the call when it disconnects (handlers/socket/connection.py) and when its user loses read access
to the channel: the channel services take the user's sockets out of `channel:{id}` cluster-wide, and this
service listens for that operation (see `_on_hub_op`).

A worker that starts while calls go on asks the others to publish their sockets in calls again (`start`).
Each worker publishes a heartbeat; when one stays silent for MISSED_BEATS beats (killed, or cut off), the
others take its sockets out of their calls (`_sweep`); if it comes back, its next beat makes the others ask
it for its calls again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from connectnow import errors
from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.realtime.hub import Hub
from connectnow.realtime.ratelimit import RateLimiter
from connectnow.realtime.rooms import peer_room
from connectnow.services.auth import Principal
from connectnow.services.chat_access import ChatAccess, channel_room
from models.channels import ChannelRecord, ChannelType
from models.voice import VoiceCandidate, VoiceDescription, VoiceJoin, VoiceMute

log = logging.getLogger("connectnow.voice")
OP = "voice"
MAX_PARTICIPANTS = 50  # a mesh of browsers calling each other peer to peer does not go much further
MISSED_BEATS = 4  # a worker silent this many heartbeats is gone: its sockets leave their calls
_CHANNEL_ROOM_PREFIX = channel_room("")


@dataclass
class Participant:
    user_id: str
    is_muted: bool
    joined_at: str
    sids: set[str] = field(default_factory=set)

    def public(self) -> dict[str, Any]:
        return {"userId": self.user_id, "isMuted": self.is_muted, "joinedAt": self.joined_at}


class VoiceService:
    def __init__(self, chat: ChatAccess, hub: Hub, limiter: RateLimiter, *, heartbeat_seconds: float = 5.0) -> None:
        self.chat = chat
        self.hub = hub
        self.limiter = limiter
        self.heartbeat_seconds = heartbeat_seconds
        self.calls: dict[str, dict[str, Participant]] = {}  # channel id -> user id -> participant (cluster-wide)
        self._local: dict[str, tuple[str, str]] = {}  # this worker's sockets in a call: sid -> (channel, user)
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker = uuid.uuid4().hex  # names this worker in its operations
        self._owners: dict[str, str] = {}  # every socket in a call, cluster-wide: sid -> its worker
        self._seen: dict[str, float] = {}  # other workers: last heartbeat (monotonic)
        self._beat: asyncio.Task[None] | None = None
        hub.on_op(OP, self._on_op)
        hub.watch_ops(self._on_hub_op)

    # --- checks -------------------------------------------------------------------------------------------
    async def _voice_channel(self, user_id: str, channel_id: str) -> ChannelRecord:
        """The channel, if the user may read it (NOT_FOUND otherwise, as everywhere) and it is a VOICE one."""
        channel = (await self.chat.channel(channel_id, user_id)).channel
        if channel.type != ChannelType.VOICE:
            raise AppError(errors.CHANNEL_NOT_VOICE)
        return channel

    def _require_in_call(self, sid: str, channel_id: str) -> str:
        entry = self._local.get(sid)
        if entry is None or entry[0] != channel_id:
            raise AppError(errors.VOICE_NOT_IN_CALL)
        return entry[1]

    def participants_of(self, channel_id: str) -> list[dict[str, Any]]:
        call = self.calls.get(channel_id, {})
        return [p.public() for p in sorted(call.values(), key=lambda p: (p.joined_at, p.user_id))]

    # --- client operations --------------------------------------------------------------------------------
    async def participants(self, principal: Principal, channel_id: str) -> dict[str, Any]:
        await self._voice_channel(principal.user_id, channel_id)
        return {"channelId": channel_id, "participants": self.participants_of(channel_id)}

    async def join(self, sid: str, principal: Principal, data: VoiceJoin) -> dict[str, Any]:
        channel = await self._voice_channel(principal.user_id, data.channel_id)
        if channel.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        user_id = principal.user_id
        previous = self._local.get(sid)
        if previous is not None and previous[0] != channel.id:
            await self._leave_sid(sid)  # one call per socket: joining another one leaves the first
        call = self.calls.get(channel.id, {})
        if user_id not in call and len(call) >= MAX_PARTICIPANTS:
            raise AppError(errors.VOICE_CALL_FULL, details={"max": MAX_PARTICIPANTS})
        self._local[sid] = (channel.id, user_id)
        await self.hub.sio.enter_room(sid, peer_room(channel.id, user_id))
        await self._change(
            {"action": "join", "channelId": channel.id, "userId": user_id, "sid": sid, "worker": self._worker,
             "isMuted": data.is_muted, "joinedAt": utcnow().isoformat()}
        )  # fmt: skip
        return {"channelId": channel.id, "participants": self.participants_of(channel.id)}

    async def leave(self, sid: str, principal: Principal, channel_id: str) -> dict[str, Any]:
        await self._voice_channel(principal.user_id, channel_id)
        self._require_in_call(sid, channel_id)
        await self._leave_sid(sid)
        return {"channelId": channel_id}

    async def mute(self, sid: str, principal: Principal, data: VoiceMute) -> dict[str, Any]:
        await self._voice_channel(principal.user_id, data.channel_id)
        user_id = self._require_in_call(sid, data.channel_id)
        change = {"action": "mute", "channelId": data.channel_id, "userId": user_id, "isMuted": data.is_muted}
        await self._change(change)
        participant = self.calls.get(data.channel_id, {}).get(user_id)
        return {"channelId": data.channel_id, "participant": participant.public() if participant else None}

    async def relay(self, sid: str, principal: Principal, event: str, data: VoiceDescription | VoiceCandidate) -> None:
        """`voice:offer` / `voice:answer` / `voice:candidate`: to the target's sockets in the call, not stored."""
        await self.limiter.hit(principal.user_id, self.limiter.rules.signal)
        await self._voice_channel(principal.user_id, data.channel_id)
        self._require_in_call(sid, data.channel_id)
        if data.to_user_id not in self.calls.get(data.channel_id, {}):
            raise AppError(errors.VOICE_PEER_NOT_IN_CALL)
        if not await self.chat.can_read_channel(data.channel_id, data.to_user_id):
            raise AppError(errors.VOICE_PEER_NOT_IN_CALL)  # lost access a moment ago: being taken out
        body: dict[str, Any] = {"channelId": data.channel_id, "fromUserId": principal.user_id}
        if isinstance(data, VoiceCandidate):
            body["candidate"] = data.candidate.model_dump(by_alias=True, exclude_none=True)
        else:
            body["sdp"] = data.sdp
        await self.hub.emit(event, body, room=peer_room(data.channel_id, data.to_user_id), skip_sid=sid)

    async def disconnected(self, sid: str) -> None:
        """The socket is gone (its rooms with it): take it out of its call."""
        await self._leave_sid(sid, socket_gone=True)

    # --- changes ------------------------------------------------------------------------------------------
    async def _leave_sid(self, sid: str, *, socket_gone: bool = False) -> None:
        entry = self._local.pop(sid, None)
        if entry is None:
            return
        channel_id, user_id = entry
        if not socket_gone:
            await self.hub.sio.leave_room(sid, peer_room(channel_id, user_id))
        await self._change({"action": "leave", "channelId": channel_id, "userId": user_id, "sid": sid})

    async def _change(self, message: dict[str, Any]) -> None:
        """Apply here, tell the other workers, then the channel's readers (if the participant list changed)."""
        announcement = self._apply(message)
        await self.hub.publish_op(OP, message)
        if announcement is not None:
            event, body = announcement
            await self.hub.emit(event, body, room=channel_room(message["channelId"]))

    async def _on_op(self, message: dict[str, Any]) -> None:
        action, worker = message.get("action"), message.get("worker")
        if worker == self._worker and action in ("catchUp", "beat"):
            return
        if action == "catchUp":
            await self._announce_local()
            return
        if isinstance(worker, str) and worker != self._worker:  # this worker never counts itself as gone
            known = worker in self._seen
            self._seen[worker] = time.monotonic()
            if not known and action == "beat":
                # A worker new to this one (just started, or taken for gone after a long stall): learn its calls.
                await self.hub.publish_op(OP, {"action": "catchUp", "worker": self._worker})
        if action == "beat":
            return
        self._apply(message)  # the owning worker already applied and announced it: nothing to announce

    # --- a worker that starts while calls go on -----------------------------------------------------------
    async def start(self) -> None:
        """Ask the running workers to publish their sockets in calls again, so this one lists them too."""
        await self.hub.publish_op(OP, {"action": "catchUp", "worker": self._worker})
        self._beat = asyncio.get_running_loop().create_task(self._heartbeat())

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._beat] if self._beat else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.hub.publish_op(OP, {"action": "beat", "worker": self._worker})
                await self._sweep()
            except Exception:  # the broker is down for a moment: the next beat tries again
                log.exception("voice heartbeat failed")

    async def _sweep(self) -> None:
        """Take the sockets of workers silent for MISSED_BEATS heartbeats out of their calls. Every worker does
        it; the one with the smallest id among those alive tells the channels' readers."""
        now = time.monotonic()
        gone = {w for w, seen in self._seen.items() if now - seen > MISSED_BEATS * self.heartbeat_seconds}
        if not gone:
            return
        alive = {self._worker} | (set(self._seen) - gone)
        announce = self._worker == min(alive)
        for worker in gone:
            del self._seen[worker]
        for sid, worker in list(self._owners.items()):
            if worker not in gone:
                continue
            for channel_id, call in list(self.calls.items()):
                for user_id, participant in list(call.items()):
                    if sid not in participant.sids:
                        continue
                    change = {"action": "leave", "channelId": channel_id, "userId": user_id, "sid": sid}
                    announcement = self._apply(change)
                    if announce and announcement is not None:
                        await self.hub.emit(announcement[0], announcement[1], room=channel_room(channel_id))

    async def _announce_local(self) -> None:
        for sid, (channel_id, user_id) in list(self._local.items()):
            participant = self.calls.get(channel_id, {}).get(user_id)
            if participant is not None:
                await self.hub.publish_op(
                    OP, {"action": "join", "channelId": channel_id, "userId": user_id, "sid": sid,
                         "worker": self._worker, "isMuted": participant.is_muted, "joinedAt": participant.joined_at},
                )  # fmt: skip

    def _apply(self, message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Change the participant list; idempotent. Returns the event to announce, if the list changed."""
        channel_id, user_id, action = message["channelId"], message["userId"], message["action"]
        call = self.calls.setdefault(channel_id, {})
        participant = call.get(user_id)
        announcement: tuple[str, dict[str, Any]] | None = None
        if action == "join":
            if participant is None:
                participant = call[user_id] = Participant(user_id, message["isMuted"], message["joinedAt"])
                announcement = ("voice:joined", {"channelId": channel_id, "participant": participant.public()})
            elif participant.is_muted != message["isMuted"]:
                participant.is_muted = message["isMuted"]
                announcement = ("voice:updated", {"channelId": channel_id, "participant": participant.public()})
            participant.sids.add(message["sid"])
            if isinstance(message.get("worker"), str):
                self._owners[message["sid"]] = message["worker"]
        elif participant is not None and action == "mute" and participant.is_muted != message["isMuted"]:
            participant.is_muted = message["isMuted"]
            announcement = ("voice:updated", {"channelId": channel_id, "participant": participant.public()})
        elif participant is not None and action == "leave":
            participant.sids.discard(message["sid"])
            self._owners.pop(message["sid"], None)
            if not participant.sids:
                del call[user_id]
                announcement = ("voice:left", {"channelId": channel_id, "userId": user_id})
        if not call:
            del self.calls[channel_id]
        return announcement

    def _on_hub_op(self, message: dict[str, Any]) -> None:
        """A user's sockets leave `channel:{id}` (they lost read access): their sockets here leave its call."""
        room = message.get("room")
        if message.get("op") != "leave" or not isinstance(room, str) or not room.startswith(_CHANNEL_ROOM_PREFIX):
            return
        channel_id, user_id = room[len(_CHANNEL_ROOM_PREFIX) :], message.get("userId")
        for sid, entry in list(self._local.items()):
            if entry == (channel_id, user_id):
                task = asyncio.get_running_loop().create_task(self._leave_sid(sid))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
