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

Versions are pinned in pyproject.toml; tests/realtime/test_transport_internals.py checks the pins and the
source of every function relied on here, and fails loudly when an upgrade changes any of them.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import socketio
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


class DirectWebSocket(eio_asgi.WebSocket):
    """engine.io's ASGI WebSocket wrapper that also exposes uvicorn's protocol to the fan-out.

    engine.io keeps its wrapper in a local variable of the socket's handler; this subclass hangs itself on
    the engine.io socket (`direct_ws`) for the lifetime of the connection, and counts the sends of
    engine.io's writer task in flight so the fan-out never overtakes one."""

    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self.sock = handler.__self__  # the engine.io AsyncSocket whose `_websocket_handler` this runs
        self.proto: WebSocketsSansIOProtocol | None = None  # set when frames may be written directly
        self.connection: WebSocketsSansIOProtocol | None = None  # uvicorn's protocol, whatever the extensions
        self.sending = 0

    async def __call__(self, environ: dict[str, Any]) -> str:
        self.asgi_receive = environ["asgi.receive"]
        self.asgi_send = environ["asgi.send"]
        await self.asgi_send({"type": "websocket.accept"})
        proto = getattr(self.asgi_send, "__self__", None)
        if isinstance(proto, WebSocketsSansIOProtocol):
            # uvicorn keeps the parsed handshake for the connection's lifetime; only the handshake reads it.
            parsed: Any = proto
            parsed.request = parsed.response = None
            self.connection = proto
            if not proto.conn.extensions:
                self.proto = proto
        self.sock.direct_ws = self
        try:
            await self.handler(self)
        finally:
            self.sock.direct_ws = None
            self.proto = self.connection = None
        return ""

    async def send(self, message: str | bytes) -> None:
        self.sending += 1
        try:
            await super().send(message)
        finally:
            self.sending -= 1

    def try_write(self, frame: bytes) -> bool:
        """Write a pre-encoded frame now if nothing is ahead of it and the transport takes it without
        waiting; False means: use the engine.io queue."""
        proto = self.proto
        sock = self.sock
        if (
            proto is None
            or self.sending
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


def install(sio: socketio.AsyncServer) -> None:
    """Make engine.io create `DirectWebSocket`s for this server (its own copy of the driver table: the
    module-level one is shared by every server in the process)."""
    eio = sio.eio
    if eio._async.get("websocket") is eio_asgi.WebSocket:
        eio._async = {**eio._async, "websocket": DirectWebSocket}


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
        text = sio.packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=[event, *args]).encode()
        if not isinstance(text, str):  # binary attachments: python-socketio's own path handles them
            raise TypeError("events carry JSON only")
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
