"""Every place ConnectNow reaches into python-socketio, python-engineio, uvicorn or websockets internals.

The hub's fan-out is the hot path of a chat server: one message into a room of 1,000 is 1,000 writes. The
libraries' own path wakes one engine.io writer task per recipient (an `asyncio.Queue` and an
`asyncio.wait_for` per wake-up) and then runs one ASGI `send` per packet. Here, a room's event is encoded once
into a WebSocket frame (server frames are unmasked, so the bytes are the same for every recipient) and written
straight to each recipient's transport when that is safe:

- the engine.io socket is on the WebSocket transport (long-polling keeps python-socketio's own path);
- uvicorn's protocol is the sans-I/O `websockets` one with no extension negotiated (no per-message deflate),
  its transport is writable (below the high-water mark), and no close was sent;
- nothing is waiting ahead of the frame: the engine.io queue is empty and its writer is not in the middle
  of an ASGI `send`. Otherwise the packet joins the engine.io queue behind the others, so a socket never
  sees two packets out of order.

Lean sockets (memory per idle socket): on uvicorn's sans-I/O WebSocket an engine.io socket (`LeanSocket`) has
one task, uvicorn's ASGI task, which reads its packets (`DirectWebSocket.serve`); engine.io's writer task, its
per-read `wait_for` task and its PING sleeper task are gone. A packet is written when it is sent, and waits in
the socket's queue (drained by a task that exists only meanwhile) when something is ahead of it or the
transport is not writable. PINGs come from one `PingWheel` per server; the PONG deadline is engine.io's own
check. The queues (`LeanQueue`) allocate nothing while empty, and the handshake's headers are dropped.

Versions are pinned in pyproject.toml; tests/realtime/test_transport_internals.py checks the pins and the
source of every function relied on here, and fails loudly when an upgrade changes any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from importlib.metadata import version
from typing import Any

import orjson
import socketio
from engineio import async_socket as eio_socket
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import asgi as eio_asgi
from socketio import packet as sio_packet
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

NAMESPACE = "/"

# The versions whose internals this module was written against (kept equal to the pins in pyproject.toml).
PINNED = {
    "python-socketio": "5.18.1",
    "python-engineio": "4.15.1",
    "uvicorn": "0.55.0",
    "websockets": "17.4",
}


def installed_versions() -> dict[str, str]:
    return {name: version(name) for name in PINNED}


class LeanQueue:
    """The part of `asyncio.Queue` engine.io uses (put, get, task_done, join, qsize), allocating nothing while
    it is empty and nobody waits: an idle socket's engine.io queue, and its uvicorn receive queue, cost a few
    pointers instead of four deques and an `asyncio.Event` (~3 KiB) each."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None
        self._unfinished = 0
        self._joiners: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._unfinished += 1
        self._wake_getter()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                if self._getters is not None and getter in self._getters:
                    self._getters.remove(getter)
                if not getter.cancelled() or self._items:
                    self._wake_getter()  # it was woken, then cancelled: hand the item to the next one
                raise
        return self.get_nowait()

    def _wake_getter(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not self._getters:
            self._getters = None

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners:
            for joiner in self._joiners:
                if not joiner.done():
                    joiner.set_result(None)
            self._joiners = None

    async def join(self) -> None:
        if self._unfinished:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner


class LeanEvent:
    """`asyncio.Event` (set, clear, is_set, wait) without its deque of waiters until someone waits: uvicorn's
    per-connection `writable` flag."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class PingWheel:
    """Every socket's next Engine.IO PING on one server-wide timer (engine.io starts a task per socket that
    sleeps `ping_interval`). Sockets wait in slots of `resolution` seconds; one timer handle serves the
    earliest slot. The PONG deadline stays engine.io's own: its service task and every send check it."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.resolution = min(0.5, interval / 10)
        self.slots: dict[int, list[LeanSocket]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = 0

    def add(self, sock: LeanSocket) -> None:
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + self.interval) / self.resolution)
        members = self.slots.get(slot)
        if members is None:
            self.slots[slot] = [sock]
        else:
            members.append(sock)
        if self._timer is None or slot < self._timer_slot:
            self._arm(loop, slot)

    def _arm(self, loop: asyncio.AbstractEventLoop, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        self._timer = loop.call_at(slot * self.resolution, self._tick)

    def _tick(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() / self.resolution
        for slot in sorted(s for s in self.slots if s <= now + 1e-6):
            for sock in self.slots.pop(slot):
                sock.ping_due()
        if self.slots:
            self._arm(loop, min(self.slots))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.slots.clear()


class LeanSocket(eio_socket.AsyncSocket):
    """engine.io's socket, for a server with the fast path installed (the class of every socket of such a
    server, set as it connects). Long-polling behaves as engine.io's own; on uvicorn's sans-I/O WebSocket
    (`LeanWebSocket`) the socket has no writer task and no per-read task: a packet is written to the transport
    as it is sent, and queued only while something is ahead of it or the transport is not writable, a drain
    task existing only while packets wait. Its PING comes from the server's `PingWheel`."""

    direct_ws: DirectWebSocket | None = None
    last_ping: float | None  # engine.io's: when the pending PING went out; None while the next one waits

    def schedule_ping(self) -> None:
        if self.last_ping:
            self.last_ping = None
            wheel: PingWheel = self.server.cn_ping_wheel
            wheel.add(self)

    def ping_due(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.push(eio_packet.Packet(eio_packet.PING))

    async def send(self, pkt: eio_packet.Packet) -> None:
        if await self.check_ping_timeout():
            self.push(pkt)

    def push(self, pkt: eio_packet.Packet) -> None:
        """Write the packet now if the socket is on the lean WebSocket with nothing ahead of it; else queue it."""
        ws = self.direct_ws
        if ws is not None and ws.lean and self.upgraded and ws.idle() and ws.write_packet(pkt):
            return
        self.queue.put_nowait(pkt)
        if ws is not None and ws.lean and self.upgraded:
            ws.start_drain()

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        await super().close(wait=wait, abort=abort, reason=reason)
        ws = self.direct_ws
        if ws is not None and ws.lean and self.closed:
            ws.finish()


class DirectWebSocket:
    """engine.io's ASGI WebSocket wrapper (`engineio.async_drivers.asgi.WebSocket`: `wait`, `send`, `close`,
    the same ASGI messages), exposing uvicorn's protocol to the fan-out and (`lean`) running the socket itself
    on uvicorn's sans-I/O protocol. Slotted: one lives as long as its connection.

    It hangs itself on the engine.io socket (`direct_ws`) for the lifetime of the connection. With `lean`,
    `serve` is the socket's only task (uvicorn's ASGI task): it reads packets; writes go straight to the
    transport. Otherwise (another ASGI server) engine.io's own handler runs, and `sending` counts its writer's
    sends in flight so the fan-out never overtakes one."""

    __slots__ = (
        "asgi_receive",
        "asgi_send",
        "closing_ws",
        "connection",
        "drain",
        "handler",
        "lean",
        "proto",
        "sending",
        "serving_done",
        "sock",
    )

    def __init__(self, handler: Any, server: Any) -> None:
        self.handler = handler
        self.asgi_receive: Any = None
        self.asgi_send: Any = None
        self.sock = handler.__self__  # the engine.io socket whose `_websocket_handler` this runs
        self.proto: WebSocketsSansIOProtocol | None = None  # set when shared frames may be written directly
        self.connection: WebSocketsSansIOProtocol | None = None  # uvicorn's sans-I/O protocol, any extensions
        self.lean = False
        self.sending = 0
        self.drain: asyncio.Task[None] | None = None
        self.closing_ws = False
        self.serving_done = False

    async def wait(self) -> str | bytes:
        event = await self.asgi_receive()
        if event["type"] != "websocket.receive":
            raise OSError
        if event.get("bytes") is not None:
            data: bytes = event["bytes"]
            return data
        if event.get("text") is not None:
            text: str = event["text"]
            return text
        raise OSError

    async def __call__(self, environ: dict[str, Any]) -> str:
        self.asgi_receive = environ["asgi.receive"]
        self.asgi_send = environ["asgi.send"]
        await self.asgi_send({"type": "websocket.accept"})
        proto = getattr(self.asgi_send, "__self__", None)
        if isinstance(proto, WebSocketsSansIOProtocol):
            slim_protocol(proto)
            self.connection = proto
            self.lean = isinstance(self.sock, LeanSocket)
            if not proto.conn.extensions:
                self.proto = proto
        self.sock.direct_ws = self
        try:
            if self.lean:
                await self.serve()  # instead of engine.io's `_websocket_handler`
            else:
                await self.handler(self)
        finally:
            self.sock.direct_ws = None
            self.proto = self.connection = None
        return ""

    async def send(self, message: str | bytes) -> None:
        self.sending += 1
        try:
            if isinstance(message, bytes):
                await self.asgi_send({"type": "websocket.send", "bytes": message, "text": None})
            else:
                await self.asgi_send({"type": "websocket.send", "bytes": None, "text": message})
        finally:
            self.sending -= 1

    # --- the lean socket ----------------------------------------------------------------------------------
    def idle(self) -> bool:
        """Nothing waits ahead of a new packet (no queue, no drain)."""
        return self.drain is None and not self.sock.queue.qsize()

    def writable(self) -> bool:
        proto = self.connection
        return (
            proto is not None
            and not self.closing_ws
            and proto.writable.is_set()
            and not proto.close_sent
            and not proto.disconnected
            and proto.conn.state is State.OPEN
        )

    def write_packet(self, pkt: eio_packet.Packet) -> bool:
        """Write one engine.io packet now if the transport takes it without waiting."""
        proto = self.connection
        if proto is None or not self.writable():
            return False
        data = pkt.encode()
        if isinstance(data, str):
            proto.conn.send_text(data.encode())
        else:
            proto.conn.send_binary(data)
        proto.transport.write(b"".join(proto.conn.data_to_send()))
        return True

    def start_drain(self) -> None:
        if self.drain is None:
            self.drain = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Write what is queued, in order, as the transport takes it; close the WebSocket after a CLOSE."""
        queue, proto = self.sock.queue, self.connection
        try:
            while proto is not None and queue.qsize():
                if not self.writable():
                    if proto.disconnected or proto.close_sent or self.closing_ws:
                        break
                    await proto.writable.wait()
                    continue
                pkt = queue.get_nowait()
                queue.task_done()
                self.write_packet(pkt)
        finally:
            self.drain = None
            if self.sock.closed and self.lean:
                await self.close()

    def finish(self) -> None:
        """The engine.io socket closed: close the WebSocket once what is queued (its CLOSE packet) is out, or
        drop it if the client does not take that within `DRAIN_ON_CLOSE_SECONDS` (engine.io's writer would
        wait on such a client forever)."""
        if self.serving_done or self.closing_ws:
            return
        self.start_drain()  # with nothing queued, closes at once
        asyncio.get_running_loop().call_later(DRAIN_ON_CLOSE_SECONDS, self._close_deadline)

    def _close_deadline(self) -> None:
        if self.drain is not None:
            self.abort()

    async def close(self) -> None:
        if not self.closing_ws:
            self.closing_ws = True
            with contextlib.suppress(Exception):  # already closed: nothing to do
                await self.asgi_send({"type": "websocket.close"})

    async def serve(self) -> None:
        """The lean socket's life: the upgrade handshake when it comes from long-polling, then read packets
        until the client goes (engine.io's `_websocket_handler` without its writer task and per-read task)."""
        sock = self.sock
        if sock.connected:
            if not await self._upgrade():
                return
        else:
            sock.connected = True
            sock.upgraded = True
        if sock.queue.qsize():
            self.start_drain()  # the OPEN packet, or what was queued during the upgrade
        server = sock.server
        try:
            while not sock.closed:
                message = await self.asgi_receive()
                if message["type"] != "websocket.receive":
                    break
                data = message.get("bytes")
                if data is None:
                    data = message.get("text")
                if data is None or len(data) > server.max_http_buffer_size:
                    break
                try:
                    pkt = eio_packet.Packet(encoded_packet=data)
                except (ValueError, IndexError, KeyError):
                    break  # not an Engine.IO packet: the client is not speaking the protocol
                message = data = None  # not kept alive by this frame while the socket idles
                try:
                    await sock.receive(pkt)
                except eio_exceptions.UnknownPacketError:
                    pass
                except eio_exceptions.SocketIsClosedError:
                    break
                except Exception:  # engine.io's handler logs and goes on too
                    server.logger.exception("Unknown receive error")
        finally:
            self.serving_done = True
            drain = self.drain
            if drain is not None and not sock.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(drain), DRAIN_ON_CLOSE_SECONDS)
            await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
            await self.close()

    async def _upgrade(self) -> bool:
        """engine.io's upgrade from long-polling: the "probe" PING, the PONG, a NOOP that ends the pending poll,
        then the UPGRADE packet. Packets sent meanwhile wait in the queue (the poll may take them)."""
        sock = self.sock
        sock.upgrading = True
        try:
            pkt = eio_packet.Packet(encoded_packet=await self.wait())
            if pkt.packet_type != eio_packet.PING or pkt.data != "probe":
                return False
            await self.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            sock.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
            pkt = eio_packet.Packet(encoded_packet=await self.wait())
            if pkt.packet_type != eio_packet.UPGRADE:
                return False
        except (OSError, ValueError):
            return False
        finally:
            sock.upgrading = False
        sock.upgraded = True
        return True

    # --- the fan-out -------------------------------------------------------------------------------------
    def try_write(self, frame: bytes) -> bool:
        """Write a pre-encoded frame now if nothing is ahead of it and the transport takes it without
        waiting; False means: queue it."""
        proto = self.proto
        sock = self.sock
        if (
            proto is None
            or self.sending
            or self.drain is not None
            or self.closing_ws
            or not sock.upgraded
            or sock.closing
            or sock.queue.qsize()
            or not proto.writable.is_set()
            or proto.close_sent
            or proto.disconnected
            or proto.conn.state is not State.OPEN
        ):
            return False
        proto.transport.write(frame)
        return True

    def abort(self) -> None:
        """Drop the connection now (a stalled reader would never take a close frame)."""
        proto = self.connection
        if proto is not None and not proto.disconnected:
            proto.transport.abort()


DRAIN_ON_CLOSE_SECONDS = 2.0  # how long a WebSocket the client closed may flush what was queued for it


def slim_protocol(proto: WebSocketsSansIOProtocol) -> None:
    """Drop what uvicorn keeps of the handshake for the connection's lifetime (the parsed request and response,
    ~3 KiB; only the handshake reads them; the request's headers also live on in websockets' parser frame), and
    give it a `LeanQueue` for its receive queue and a `LeanEvent` for its `writable` flag."""
    parsed: Any = proto
    request = getattr(parsed, "request", None)
    if request is not None:
        request.headers.clear()
    parsed.request = parsed.response = None
    old = proto.queue
    lean: Any = LeanQueue()
    while not old.empty():
        lean.put_nowait(old.get_nowait())
    proto.queue = lean
    writable: Any = LeanEvent(proto.writable.is_set())
    proto.writable = writable


def install(sio: socketio.AsyncServer) -> None:
    """Make this server's engine.io sockets `LeanSocket`s with `LeanQueue`s and `DirectWebSocket`s, their
    PINGs on one `PingWheel` (its own copy of the driver table: the module-level one is shared by every
    server in the process)."""
    eio: Any = sio.eio
    if eio._async.get("websocket") is not eio_asgi.WebSocket:
        return
    eio._async = {**eio._async, "websocket": DirectWebSocket}
    eio.create_queue = lambda *args, **kwargs: LeanQueue()
    eio.cn_ping_wheel = PingWheel(eio.ping_interval)
    on_connect = eio.handlers["connect"]

    async def connect(sid: str, environ: dict[str, Any], *args: Any) -> Any:
        sock = eio.sockets.get(sid)
        if type(sock) is eio_socket.AsyncSocket:
            sock.__class__ = LeanSocket  # before engine.io schedules its first PING
        return await on_connect(sid, environ, *args)

    eio.handlers["connect"] = connect


# What engine.io and python-socketio read from a connection's environ once the Socket.IO connect is done.
# (the CORS check at the end of the WebSocket request reads the origin, the host and the scheme).
ENVIRON_KEPT = frozenset(
    {"REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "HTTP_ORIGIN", "HTTP_HOST", "wsgi.url_scheme"}
    | {"asgi.scope", "asgi.send", "asgi.receive"}
)


def slim_environ(sio: socketio.AsyncServer, sid: str) -> None:
    """Drop the request headers python-socketio keeps for every connection (a few KiB per socket: the
    WSGI-style environ with every header, and the request body reader). ConnectNow reads the environ only
    in its connect handler. In place: engine.io's request coroutine holds the same dict."""
    eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
    environ = sio.environ.get(eio_sid) if eio_sid is not None else None
    if environ:
        kept = {key: environ[key] for key in ENVIRON_KEPT if key in environ}
        environ.clear()
        environ.update(kept)
        scope = kept.get("asgi.scope")
        headers = scope.get("headers") if isinstance(scope, dict) else None
        if isinstance(headers, list):
            headers.clear()  # the same list lives on in uvicorn's protocol and in every ASGI frame's scope


def keeps_library_send(sio: socketio.AsyncServer) -> bool:
    """A server class that hooks python-socketio's per-recipient send (the hub contract tests capture
    packets there) keeps python-socketio's own emit path."""
    return type(sio)._send_eio_packet is not socketio.AsyncServer._send_eio_packet


class Encoded:
    """One event, encoded once for every local recipient: the engine.io packet (queued path, long-polling)
    and the WebSocket frame (direct path)."""

    __slots__ = ("frame", "packet")

    def __init__(self, sio: socketio.AsyncServer, event: str, data: Any) -> None:
        args = [] if data is None else [data]
        try:
            # A Socket.IO EVENT on the default namespace is "2" and the JSON array (python-socketio's
            # `Packet.encode`, which also walks the data looking for bytes first; orjson refuses bytes).
            text = "2" + orjson.dumps([event, *args]).decode()
        except TypeError:  # bytes, or what only the library's codec writes (a lone surrogate, NaN)
            encoded = sio.packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=[event, *args]).encode()
            if not isinstance(encoded, str):  # binary attachments: python-socketio's own path handles them
                raise TypeError("events carry JSON only") from None
            text = encoded
        self.packet = eio_packet.Packet(eio_packet.MESSAGE, text)
        wire = self.packet.encode()  # cached on the packet: every queued recipient reuses the same string
        self.frame = Frame(Opcode.TEXT, wire.encode()).serialize(mask=False)


def room_sockets(sio: socketio.AsyncServer, room: str | list[str], skip: str | list[str] | None) -> list[Any]:
    """The live engine.io sockets of this worker in the room(s), each once, less the skipped Socket.IO sids."""
    manager = sio.manager
    if NAMESPACE not in manager.rooms:
        return []
    participants = dict(manager.get_participants(NAMESPACE, room))
    if isinstance(skip, str):
        participants.pop(skip, None)
    elif skip:
        for sid in skip:
            participants.pop(sid, None)
    sockets = sio.eio.sockets
    found = []
    for eio_sid in participants.values():
        sock = sockets.get(eio_sid)
        if sock is not None and not sock.closed:
            found.append(sock)
    return found


def direct_ws(sock: Any) -> DirectWebSocket | None:
    ws: DirectWebSocket | None = getattr(sock, "direct_ws", None)
    return ws


def pending(sock: Any) -> int:
    """Packets waiting in the socket's engine.io queue."""
    n: int = sock.queue.qsize()
    return n


def enqueue(sock: Any, encoded: Encoded) -> None:
    """Queue the packet behind what the socket has waiting (a lean WebSocket's drain writes it)."""
    if isinstance(sock, LeanSocket):
        sock.push(encoded.packet)
    else:
        sock.queue.put_nowait(encoded.packet)


async def drop_slow(sock: Any, reason: str) -> None:
    """Disconnect a socket that does not read its output: python-socketio's disconnect handlers run with
    `reason`, a WebSocket is dropped at once, a long-polling client's pending request is answered with a
    CLOSE packet."""
    ws = direct_ws(sock)
    if ws is not None:
        await sock.close(wait=False, abort=True, reason=reason)
        ws.abort()
    else:
        await sock.close(wait=False, abort=False, reason=reason)
