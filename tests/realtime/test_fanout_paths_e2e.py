"""The hub's local delivery on a real server (issue 13): the direct WebSocket write, the queued path, and the
slow-consumer policy. Every recipient gets every message once, in order, whatever path carried it."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.support.clients import Person, bearer, register, unique_name
from tests.support.live_server import LiveServer, server_http, shared_server
from tests.support.rooms import metric, public_general, wait_count

pytestmark = pytest.mark.e2e
MAX_PENDING = 200  # CONNECTNOW_MAX_PENDING_PACKETS for this server (a long-polling socket takes 60 at once)


server = shared_server(
    "fanout",
    rate_send_burst="100000",
    rate_send_per_second="100000",
    max_pending_packets=str(MAX_PENDING),
    metrics_allowed_networks="127.0.0.1",  # the test reads /metrics as the local Prometheus would
)
http = server_http()


async def test_every_socket_gets_every_message_once_in_one_order(server: LiveServer, http: httpx.AsyncClient) -> None:
    """WebSocket-only sockets take the direct path, a socket that upgraded from polling too; the sender's
    acknowledgements (python-socketio's queued path) are interleaved with the fan-out. Every socket gets
    every message once, and all in the hub's one order. Long-polling is covered by tests/e2e/test_node_client.py:
    python-engineio's client refuses a poll answer of more than 16 packets, which a burst like this one makes."""
    alice, bob, carol, dave = [Person(await register(http, unique_name("f"))) for _ in range(4)]
    general = await public_general(http, alice, [bob, carol, dave])
    await alice.connect(server)
    await bob.connect(server)
    await carol.connect(server)
    await dave.sock.connect(server.base_url, dave.token, transports=["polling", "websocket"])
    before = await metric(http, 'connectnow_fanout_writes_total{path="direct"}')
    try:
        n = 60
        # Concurrent sends: they are published in whatever order the store finishes them.
        sent = await asyncio.gather(
            *(
                alice.ok("message:send", {"channelId": general, "content": f"m{i}", "clientMsgId": f"c{i}"})
                for i in range(n)
            )
        )
        seqs = {s["message"]["seq"] for s in sent}
        assert len(seqs) == n
        orders = []
        for person in (alice, bob, carol, dave):
            got = [d["seq"] for d in await wait_count(person, general, n, lambda d: d["seq"] in seqs)]
            assert sorted(got) == sorted(seqs), person.username
            orders.append(got)
        assert all(order == orders[0] for order in orders)
        assert await metric(http, 'connectnow_fanout_writes_total{path="direct"}') - before >= 3 * n
    finally:
        for person in (alice, bob, carol, dave):
            await person.sock.close()


async def stalled_socket(server: LiveServer, token: str) -> Any:
    """A WebSocket client that completes the Socket.IO handshake and then never reads again (a tiny
    receive buffer, so the server's output backs up quickly)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
        ws = await ws_connect(
            f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", sock=raw, max_queue=1, max_size=None
        )
    except BaseException:
        raw.close()  # not yet owned by a WebSocket: an unclosed socket would warn (an error) in a later test
        raise
    try:
        opened = await ws.recv()
        assert isinstance(opened, str) and opened.startswith("0")
        await ws.send("40" + json.dumps({"token": token}))
        async with asyncio.timeout(10):
            while not str(await ws.recv()).startswith("40"):  # events of the rooms it joined may come first
                pass
    except BaseException:
        await ws.close()
        raise
    return ws


async def test_a_stalled_reader_is_disconnected_and_counted(server: LiveServer, http: httpx.AsyncClient) -> None:
    """A socket that stops reading is disconnected once MAX_PENDING packets wait for it; the others keep
    getting every message in order, and /metrics counts the slow consumer."""
    alice, bob, stalled = [Person(await register(http, unique_name("s"))) for _ in range(3)]
    general = await public_general(http, alice, [bob, stalled])
    await alice.connect(server)
    await bob.connect(server)
    slow_ws = await stalled_socket(server, stalled.token)
    before = await metric(http, "connectnow_slow_consumer_disconnects_total")
    body = "x" * 3900
    sent = 0
    seqs: list[int] = []
    try:
        # Kernel buffers take a few hundred KiB before uvicorn's transport stops being writable; bounded.
        while sent < 3000 and await metric(http, "connectnow_slow_consumer_disconnects_total") == before:
            for _ in range(20):
                ok = await alice.ok("message:send", {"channelId": general, "content": body, "clientMsgId": f"s{sent}"})
                seqs.append(ok["message"]["seq"])
                sent += 1
        assert await metric(http, "connectnow_slow_consumer_disconnects_total") == before + 1, sent
        got = await wait_count(bob, general, sent, lambda d: d["seq"] in seqs, timeout=30.0)
        assert [d["seq"] for d in got] == seqs
        # The server dropped the stalled connection: draining it ends in a close, not more and more data.
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(30):
                while True:
                    await slow_ws.recv()
        assert await metric(http, 'connectnow_fanout_writes_total{path="queued"}') > 0
        who = await http.get("/api/v1/users/me", headers=bearer(stalled.token))
        assert who.status_code == 200  # only the socket was dropped, not the session
    finally:
        await slow_ws.close()
        for person in (alice, bob):
            await person.sock.close()
