"""The lean engine.io socket of connectnow/realtime/transport.py (issue 13, memory per idle socket).

An idle WebSocket has one task (uvicorn's ASGI task reading its packets), no engine.io writer task, no
per-read task, no PING sleeper, and no queue storage until output waits; a packet the transport cannot take
now waits in order for a drain task. Engine.IO's PING/PONG cadence and its ping-timeout disconnect are kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import socketio
import uvicorn
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from connectnow.realtime import transport
from connectnow.realtime.hub import Hub, OrjsonCodec
from connectnow.realtime.sio_server import ConnectNowServer
from connectnow.services.auth import Principal
from models.users import UserRecord
from tests.support.live_server import LiveServer
from tests.support.redis_server import bound_socket

WAIT_SECS = 30.0  # generous: the suite runs on 2 loaded cores


# --- LeanQueue: asyncio.Queue's semantics --------------------------------------------------------------------
async def test_lean_queue_keeps_order_and_allocates_nothing_while_empty() -> None:
    queue = transport.LeanQueue()
    assert queue.empty() and queue.qsize() == 0 and queue._items is None
    for n in range(3):
        await queue.put(n)
    assert queue.qsize() == 3
    assert [await queue.get(), queue.get_nowait(), await queue.get()] == [0, 1, 2]
    assert queue._items is None and queue._getters is None
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_lean_queue_get_waits_and_a_cancelled_getter_loses_nothing() -> None:
    queue = transport.LeanQueue()
    cancelled = asyncio.create_task(queue.get())
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    queue.put_nowait("a")
    assert await asyncio.wait_for(waiting, WAIT_SECS) == "a"
    assert cancelled.cancelled()
    # A get that times out (engine.io's poll) leaves no waiter behind.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait("b")
    assert await asyncio.wait_for(queue.get(), WAIT_SECS) == "b"


async def test_lean_queue_join_waits_for_task_done() -> None:
    queue = transport.LeanQueue()
    await queue.join()  # nothing unfinished: at once
    queue.put_nowait(1)
    joined = asyncio.create_task(queue.join())
    queue.get_nowait()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.task_done()
    await asyncio.wait_for(joined, WAIT_SECS)
    with pytest.raises(ValueError):
        queue.task_done()


async def test_lean_event_wakes_its_waiters_and_forgets_cancelled_ones() -> None:
    event = transport.LeanEvent(False)
    waiters = [asyncio.create_task(event.wait()) for _ in range(2)]
    cancelled = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert event._waiters is not None and len(event._waiters) == 2
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), WAIT_SECS) == [True, True]
    assert event.is_set() and event._waiters is None
    event.clear()
    assert not event.is_set()
    event.set()
    assert await event.wait()  # set: at once


# --- PingWheel -----------------------------------------------------------------------------------------------
class _Sock:
    def __init__(self) -> None:
        self.pinged = 0

    def ping_due(self) -> None:
        self.pinged += 1


async def test_the_ping_wheel_pings_each_socket_once_after_the_interval() -> None:
    wheel = transport.PingWheel(0.2)
    socks = [_Sock() for _ in range(5)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for sock in socks:
        wheel.add(sock)  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert all(s.pinged == 0 for s in socks)  # not before the interval
    while any(s.pinged == 0 for s in socks):
        assert loop.time() - started < WAIT_SECS
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    assert [s.pinged for s in socks] == [1] * 5 and not wheel.slots
    wheel.close()


# --- a real uvicorn server in this process, as `connectnow serve` configures it --------------------------------
class Stack:
    def __init__(self, sio: socketio.AsyncServer, hub: Hub, port: int) -> None:
        self.sio, self.hub, self.port = sio, hub, port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    async def connect(self, user: str | None = None) -> tuple[ClientConnection, str]:
        """A raw Engine.IO v4 / Socket.IO v5 WebSocket client (registered with the hub as `user`, if given);
        returns it and its Socket.IO sid."""
        ws = await ws_connect(self.url, compression=None, ping_interval=None)
        opened = str(await ws.recv())
        assert opened.startswith("0"), opened
        await ws.send("40" + (json.dumps({"user": user}) if user else ""))
        connected = str(await ws.recv())
        assert connected.startswith("40"), connected
        return ws, json.loads(connected[2:])["sid"]


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    sio = ConnectNowServer(connect_timeout=60, async_mode="asgi", json=OrjsonCodec, logger=False, engineio_logger=False)
    hub = Hub(sio)

    async def on_connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        if auth:  # the user's record as the store would load it: a new copy on every connect
            now = datetime(2026, 1, 1, tzinfo=UTC)
            name = auth["user"]
            record = UserRecord(
                id=name, email=f"{name}@example.com", email_lower=f"{name}@example.com", username=name,
                username_lower=name, display_name=name, created_at=now, updated_at=now,
            )  # fmt: skip
            await hub.register(sid, Principal(user=record, session_id=sid))

    sio.on("connect", on_connect)
    sock = bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    with sock:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        try:
            yield Stack(sio, hub, port)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, WAIT_SECS)
            await sio.shutdown()
            sio.eio.cn_ping_wheel.close()


def _server_task_names() -> list[str]:
    return sorted(task.get_coro().__qualname__ for task in asyncio.all_tasks())  # type: ignore[union-attr]


async def test_an_idle_websocket_has_one_task_and_no_queue_storage(stack: Stack) -> None:
    clients = [await stack.connect()]  # the first connect starts engine.io's one service task
    before = _server_task_names()
    clients += [await stack.connect() for _ in range(4)]
    try:
        after = _server_task_names()
        for name in before:
            after.remove(name)
        server_side = [name for name in after if not name.startswith(("ClientConnection", "Connection"))]
        assert server_side == ["WebSocketsSansIOProtocol.run_asgi"] * 4, server_side
        for _, sid in clients:
            sock = stack.sio.eio.sockets[stack.sio.manager.eio_sid_from_sid(sid, "/")]
            assert type(sock) is transport.LeanSocket
            assert sock.queue._items is None and sock.direct_ws is not None and sock.direct_ws.drain is None
            proto = sock.direct_ws.connection
            assert proto is not None
            assert isinstance(proto.queue, transport.LeanQueue) and proto.request is None
            assert isinstance(proto.writable, transport.LeanEvent) and proto.writable._waiters is None
    finally:
        for ws, _ in clients:
            await ws.close()


async def test_packets_wait_in_order_while_the_transport_is_not_writable(stack: Stack) -> None:
    ws, sid = await stack.connect()
    try:
        sock = stack.sio.eio.sockets[stack.sio.manager.eio_sid_from_sid(sid, "/")]
        direct = sock.direct_ws
        direct.connection.pause_writing()  # what the transport does past its high-water mark
        for n in range(5):
            await stack.sio.emit("n", n, to=sid)
        assert sock.queue.qsize() == 5 and direct.drain is not None
        direct.connection.resume_writing()
        got = [json.loads(str(await asyncio.wait_for(ws.recv(), WAIT_SECS))[2:])[1] for _ in range(5)]
        assert got == [0, 1, 2, 3, 4]
        if direct.drain is not None:
            await asyncio.wait_for(direct.drain, WAIT_SECS)
        assert sock.queue.qsize() == 0 and sock.queue._items is None
        await stack.sio.emit("n", 5, to=sid)  # idle again: written at once
        assert sock.queue.qsize() == 0
        assert json.loads(str(await asyncio.wait_for(ws.recv(), WAIT_SECS))[2:]) == ["n", 5]
    finally:
        await ws.close()


async def test_closing_the_engineio_session_sends_close_then_closes_the_websocket(stack: Stack) -> None:
    """What the connect deadline does to a session that never authenticates (python-socketio's own
    `disconnect` sends only the Socket.IO DISCONNECT; the client then closes the session itself)."""
    ws, sid = await stack.connect()
    await stack.sio.eio.disconnect(stack.sio.manager.eio_sid_from_sid(sid, "/"))
    got = []
    with pytest.raises(ConnectionClosed):
        while True:
            got.append(str(await asyncio.wait_for(ws.recv(), WAIT_SECS)))
    assert got == ["1"]  # Engine.IO CLOSE, then the WebSocket's closing handshake
    assert ws.close_code == 1000


async def test_a_users_sockets_share_one_copy_of_an_unchanged_user_record(stack: Stack) -> None:
    clients = [await stack.connect("ann"), await stack.connect("ann"), await stack.connect("bob")]
    try:
        ann1, ann2, bob = (stack.hub.connections[sid].principal for _, sid in clients)
        assert ann1.user is ann2.user and ann1.session_id != ann2.session_id
        assert bob.user is not ann1.user and bob.user_id == "bob"
    finally:
        for ws, _ in clients:
            await ws.close()


# --- Engine.IO's heartbeat on a live server ------------------------------------------------------------------
PING_INTERVAL, PING_TIMEOUT = 0.5, 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer.start(
        tmp_path_factory.mktemp("lean"),
        ping_interval_seconds=str(PING_INTERVAL),
        ping_timeout_seconds=str(PING_TIMEOUT),
        socket_connect_timeout_seconds="600",  # only the heartbeat closes these sessions
    )
    try:
        yield live
    finally:
        live.stop()


async def _open(server: LiveServer) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", compression=None, ping_interval=None
    )
    opened = str(await ws.recv())
    assert opened.startswith("0"), opened
    return ws, json.loads(opened[1:])


@pytest.mark.e2e
async def test_pings_keep_coming_while_answered_and_a_silent_client_is_closed(server: LiveServer) -> None:
    ws, handshake = await _open(server)
    assert handshake["pingTimeout"] == PING_TIMEOUT * 1000
    try:
        for _ in range(4):  # answered pings: the session stays
            assert await asyncio.wait_for(ws.recv(), WAIT_SECS) == "2"
            await ws.send("3")
        assert await asyncio.wait_for(ws.recv(), WAIT_SECS) == "2"  # this one is not answered
        rest = []
        with pytest.raises(ConnectionClosed):
            while True:
                rest.append(await asyncio.wait_for(ws.recv(), WAIT_SECS))
        # Closed without a CLOSE packet, like engine.io's own handler (its `send` refuses packets once the ping
        # timed out) and Node's engine.io ("ping timeout" closes the transport).
        assert rest == []
    finally:
        await ws.close()


async def test_a_frame_that_is_no_engineio_packet_closes_that_socket_only(stack: Stack) -> None:
    bad, _ = await stack.connect()
    good, sid = await stack.connect()
    try:
        await bad.send("x")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(bad.recv(), WAIT_SECS)
        await stack.sio.emit("still", 1, to=sid)
        assert json.loads(str(await asyncio.wait_for(good.recv(), WAIT_SECS))[2:]) == ["still", 1]
    finally:
        await good.close()
