"""The hub: this worker's sockets, who they belong to, and the one place events leave the server.

Services call `emit` after their write is stored. The hub sends the event through the broker, so every
worker (this one included) delivers it once to its local sockets in the room. Room membership and
disconnects travel the same way, so a ban on worker A closes the user's sockets on worker B.

Rooms: `user:{id}` for each user's own sockets (joined on connect); later issues add workspace, channel and
direct-conversation rooms. Only the server puts a socket in a room.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import socketio
from pydantic import BaseModel

from connectnow.clock import utcnow
from connectnow.identity import Principal
from connectnow.metrics import MESSAGE_EVENTS, Metrics
from connectnow.realtime import transport
from connectnow.realtime.broker import Broker
from connectnow.realtime.ops import DisconnectBy, DisconnectOp, EmitOp, HubOp, JoinOp, LeaveOp, Room
from connectnow.realtime.ordering import StreamOrder
from connectnow.realtime.rooms import user_room
from models.base import Wire
from models.bounds import JsonValueError, Undecodable, decode_client_json

log = logging.getLogger("connectnow.hub")


@dataclass(slots=True)
class Connection:
    sid: str
    principal: Principal
    connected_at: Any = field(default_factory=utcnow)

    @property
    def user_id(self) -> str:
        return self.principal.user_id


def to_wire(data: Any) -> Any:
    if isinstance(data, Wire):  # already in wire form (models/base.py)
        return data
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(data, list | tuple):
        return [to_wire(item) for item in data]
    if isinstance(data, dict):
        return {key: to_wire(value) for key, value in data.items()}
    return data


OpHandler = Callable[[dict[str, Any]], Awaitable[None]]
HUB_OPS = frozenset({"emit", "join", "leave", "disconnect"})  # the hub's own operations (ops.py)
NAMESPACE = transport.NAMESPACE
# docs/PROTOCOL.md "Slow consumers": the disconnect reason, and the default limit of packets waiting for a socket.
SLOW_CONSUMER_REASON = "slow consumer"
DEFAULT_MAX_PENDING_PACKETS = 1000


class OrjsonCodec:
    """python-socketio's `json` module, backed by orjson (encodes every event and decodes every client packet;
    several times faster than the standard library). orjson is always compact, like the `separators` asked for.

    What orjson refuses and the standard library reads (a lone surrogate escape such as "\\ud800", NaN) goes to
    the standard library, so such input still reaches validation and is refused there with its error code
    instead of being dropped without an answer."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            return json.dumps(obj, separators=(",", ":"))

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        try:
            return decode_client_json(text)
        except JsonValueError as exc:
            if "nested deeper" in str(exc):
                return _undecodable(text, str(exc))
        try:
            value = json.loads(text)
        except RecursionError as exc:  # the standard library recurses: a deep payload lands here
            return _undecodable(text, f"not valid JSON: {type(exc).__name__}")
        except ValueError as exc:
            # Engine.IO decodes every packet through this codec and relies on ValueError for plain text ("probe"
            # of the WebSocket upgrade, "ping", a Socket.IO packet's leading digit): only a payload that is meant
            # to be JSON (an event array or a CONNECT object) becomes a marker the handlers answer.
            head = (text[:64].decode("utf-8", "replace") if isinstance(text, bytes) else text[:64]).lstrip()
            if head[:1] in ("[", "{"):
                return _undecodable(text, f"not valid JSON: {type(exc).__name__}")
            raise
        return value


_EVENT_NAME = re.compile(r'^\s*\[\s*("(?:[^"\\]|\\.){0,200}")')


def _undecodable(text: str | bytes, reason: str) -> Any:
    """What a packet the server cannot read decodes to: its event name (when it has one) with an
    `Undecodable` payload, so the event's acknowledgement answers VALIDATION_FAILED instead of python-socketio
    dropping the packet, or the decoder recursing until RecursionError."""
    head = text[:512].decode("utf-8", "replace") if isinstance(text, bytes) else text[:512]
    match = _EVENT_NAME.match(head)
    if match is None:
        return Undecodable(reason)
    try:
        return [json.loads(match.group(1)), Undecodable(reason)]
    except ValueError:
        return Undecodable(reason)


class Hub:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        metrics: Metrics | None = None,
        *,
        max_pending_packets: int = DEFAULT_MAX_PENDING_PACKETS,
    ) -> None:
        self.sio = sio
        self.metrics = metrics or Metrics()
        self.broker: Broker | None = None
        self.connections: dict[str, Connection] = {}
        self.messages_delivered = 0  # chat messages fanned out on this worker (the dashboard's messages/s)
        self._by_user: dict[str, set[str]] = defaultdict(set)
        self._service_ops: dict[str, OpHandler] = {}
        self.max_pending_packets = max_pending_packets
        # The fan-out's counters, looked up once (a labelled child per message is measurable in rooms of 10).
        self._writes_direct = self.metrics.fanout_writes.labels("direct")
        self._writes_queued = self.metrics.fanout_writes.labels("queued")
        # The fast fan-out writes frames to the sockets itself (connectnow/realtime/transport.py); a server that
        # hooks python-socketio's per-recipient send keeps python-socketio's own path.
        self._fast_fanout = not transport.keeps_library_send(sio)
        if self._fast_fanout:
            transport.install(sio)
        # A conversation's numbered events leave this worker in eventSeq order (connectnow/realtime/ordering.py).
        self.ordering = StreamOrder(self._deliver_emit)
        # See `watch_ops`.
        self._watchers: list[Callable[[dict[str, Any]], None]] = []

    async def attach(self, broker: Broker) -> None:
        self.broker = broker
        await broker.start(self._on_broker_message)

    # --- this worker's sockets ---------------------------------------------------------------------------
    async def register(self, sid: str, principal: Principal) -> Connection:
        conn = Connection(sid=sid, principal=self._share_user_record(principal))
        self.connections[sid] = conn
        self._by_user[principal.user_id].add(sid)
        await self.sio.enter_room(sid, user_room(principal.user_id))
        transport.slim_environ(self.sio, sid)
        return conn

    def _share_user_record(self, principal: Principal) -> Principal:
        """A user's sockets on this worker share one copy of an unchanged user record (~1.7 KiB each)."""
        sids = self._by_user.get(principal.user_id)
        other = self.connections.get(next(iter(sids))) if sids else None
        if other is not None and other.principal.user is not principal.user and other.principal.user == principal.user:
            return dataclasses.replace(principal, user=other.principal.user)
        return principal

    def unregister(self, sid: str) -> Connection | None:
        conn = self.connections.pop(sid, None)
        if conn is not None:
            sids = self._by_user.get(conn.user_id)
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self._by_user[conn.user_id]
        return conn

    def connection(self, sid: str) -> Connection | None:
        return self.connections.get(sid)

    def local_sids(self, user_id: str) -> set[str]:
        return set(self._by_user.get(user_id, ()))

    # --- cluster-wide operations -------------------------------------------------------------------------
    async def emit(
        self, event: str, data: Any, *, room: Room, skip_sid: str | None = None, skip_user: str | None = None
    ) -> None:
        """Deliver to every socket in the room(s), on every worker; a socket in several rooms gets it once.

        `skip_user` leaves out every socket of that user on every worker (typing indicators reach the others
        in a conversation, never the typist's own devices)."""
        self.metrics.events.labels(event).inc()
        message: EmitOp = {"op": "emit", "event": event, "data": to_wire(data), "room": room, "skip": skip_sid}
        if skip_user is not None:
            message["skipUser"] = skip_user
        await self._publish(message)

    async def join_user(self, user_id: str, room: str) -> None:
        """Put every socket of a user, on every worker, into a room."""
        join: JoinOp = {"op": "join", "userId": user_id, "room": room}
        await self._publish(join)

    async def leave_user(self, user_id: str, room: str) -> None:
        leave: LeaveOp = {"op": "leave", "userId": user_id, "room": room}
        await self._publish(leave)

    async def disconnect_user(self, user_id: str, reason: str) -> None:
        await self._disconnect("user", user_id, reason)

    async def disconnect_session(self, session_id: str, reason: str) -> None:
        await self._disconnect("session", session_id, reason)

    async def disconnect_api_key(self, api_key_id: str, reason: str) -> None:
        await self._disconnect("apiKey", api_key_id, reason)

    async def _disconnect(self, by: DisconnectBy, target: str, reason: str) -> None:
        message: DisconnectOp = {"op": "disconnect", "by": by, "id": target, "reason": reason}
        await self._publish(message)

    async def publish_op(self, op: str, message: dict[str, Any]) -> None:
        """Send a message of a service's own operation (see `on_op`) to every worker, this one included."""
        await self._publish({**message, "op": op})

    def on_op(self, op: str, handler: OpHandler) -> None:
        """Let a service receive its own broker operation (the dashboard merges workers' metrics this way)."""
        if op in HUB_OPS or op in self._service_ops:
            raise RuntimeError(f"broker operation {op} registered twice")
        self._service_ops[op] = handler

    def watch_ops(self, watcher: Callable[[dict[str, Any]], None]) -> None:
        """Let a service see every operation, of any kind, this worker publishes or receives, before it is
        delivered. `on_op` hands a service its own operations; a watcher observes all of them (caches that
        depend on membership are flushed this way: services/chat_access.py)."""
        self._watchers.append(watcher)

    async def _publish(self, typed: HubOp | dict[str, Any]) -> None:
        if self.broker is None:
            raise RuntimeError("hub has no broker yet")
        message = cast(dict[str, Any], typed)  # the broker carries the JSON object the TypedDict describes
        message["ts"] = time.time()
        started = time.perf_counter()
        self._notify(message)
        await self.broker.publish(message)
        self.metrics.broker_publish.observe(time.perf_counter() - started)

    def _notify(self, message: dict[str, Any]) -> None:
        for watcher in self._watchers:
            watcher(message)

    # --- delivery on this worker -------------------------------------------------------------------------
    async def _on_broker_message(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        self._notify(message)
        if op == "emit":
            await self.ordering.accept(message)
            return
        # A message from the broker has the shape its `op` names (connectnow/realtime/ops.py).
        if op == "join":
            await self._deliver_join(cast(JoinOp, message))
            return
        if op == "leave":
            await self._deliver_leave(cast(LeaveOp, message))
            return
        if op == "disconnect":
            await self._deliver_disconnect(cast(DisconnectOp, message))
            return
        service_op = self._service_ops.get(op) if isinstance(op, str) else None
        if service_op is None:
            log.error("unknown broker operation %r", op)
            return
        await service_op(message)

    async def _deliver_emit(self, message: dict[str, Any]) -> None:
        skip: str | list[str] | None = message.get("skip")
        skip_user = message.get("skipUser")
        if isinstance(skip_user, str):
            skip = sorted(self.local_sids(skip_user) | ({skip} if isinstance(skip, str) else set()))
        if self._fast_fanout:
            await self._fanout_local(message["event"], message["data"], message["room"], skip)
        else:
            await self.sio.emit(message["event"], message["data"], room=message["room"], skip_sid=skip)
        if "ts" in message:
            self.metrics.fanout_latency.observe(max(0.0, time.time() - message["ts"]))
        if message["event"] in MESSAGE_EVENTS:
            self.metrics.messages.inc()
            self.messages_delivered += 1

    async def _fanout_local(self, event: str, data: Any, room: Room, skip: str | list[str] | None) -> None:
        """Deliver one event to every local socket in the room(s), a socket in several rooms once.

        The event is encoded once. A WebSocket recipient with nothing queued gets the frame written to its
        transport directly (no task wake-up per recipient); any other socket gets the engine.io packet queued
        behind what it already has, so nothing is reordered. A socket with `max_pending_packets` already
        waiting is a slow consumer: it is disconnected instead of growing the server's memory. A room with no
        local member costs nothing (common with several workers): nothing is encoded."""
        sockets = transport.room_sockets(self.sio, room, skip)
        if not sockets:
            return
        encoded = transport.Encoded(self.sio, event, data)
        frame, limit, direct_ws = encoded.frame, self.max_pending_packets, transport.direct_ws
        queued = 0
        slow: list[Any] = []
        for sock in sockets:
            ws = direct_ws(sock)
            if ws is not None and ws.try_write(frame):
                continue
            if transport.pending(sock) >= limit:
                slow.append(sock)
            else:
                transport.enqueue(sock, encoded)
                queued += 1
        direct = len(sockets) - queued - len(slow)
        if direct:
            self._writes_direct.inc(direct)
        if queued:
            self._writes_queued.inc(queued)
        for sock in slow:
            log.warning("disconnecting a slow consumer (%d packets waiting)", transport.pending(sock))
            self.metrics.slow_consumers.inc()
            await transport.drop_slow(sock, SLOW_CONSUMER_REASON)

    async def _deliver_join(self, message: JoinOp) -> None:
        for sid in self.local_sids(message["userId"]):
            await self.sio.enter_room(sid, message["room"])

    async def _deliver_leave(self, message: LeaveOp) -> None:
        for sid in self.local_sids(message["userId"]):
            await self.sio.leave_room(sid, message["room"])

    async def _deliver_disconnect(self, message: DisconnectOp) -> None:
        by, target = message["by"], message["id"]
        doomed = [
            conn.sid
            for conn in self.connections.values()
            if (by == "user" and conn.user_id == target)
            or (by == "session" and conn.principal.session_id == target)
            or (by == "apiKey" and conn.principal.api_key_id == target)
        ]
        for sid in doomed:
            await self.sio.emit("session:ended", {"reason": message.get("reason")}, to=sid)
            await self.sio.disconnect(sid)
