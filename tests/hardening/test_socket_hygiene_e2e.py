"""Issue 14: socket hygiene on a real server. Sessions that never CONNECT are closed, sockets per user are
capped, reserved event names change nothing, an oversized long-polling POST is answered, and the server
still stops on the first SIGTERM afterwards."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e

SETTINGS = {"socket_connect_timeout_seconds": "1", "max_sockets_per_user": "3", "rate_send_burst": "100"}
POLL = "/socket.io/?EIO=4&transport=polling"


server = shared_server("sockets", **SETTINGS)


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
        yield client


async def handshake(http: httpx.AsyncClient) -> str:
    opened = await http.get(POLL)
    assert opened.status_code == 200, opened.text
    assert opened.text.startswith("0{"), opened.text
    import json

    sid: str = json.loads(opened.text[1:])["sid"]
    return sid


async def test_a_session_that_never_connects_is_closed(http: httpx.AsyncClient) -> None:
    sid = await handshake(http)
    deadline = asyncio.get_running_loop().time() + 15
    closed = False
    while not closed and asyncio.get_running_loop().time() < deadline:
        poll = await http.get(f"{POLL}&sid={sid}")
        # Closed: the CLOSE packet ("1") is delivered, or the session is already gone (400).
        closed = poll.status_code == 400 or "1" in poll.text.split("\x1e")
    assert closed, "the unauthenticated Engine.IO session stayed open"


async def test_a_connected_socket_outlives_the_connect_timeout(http: httpx.AsyncClient, server: LiveServer) -> None:
    user = await register(http)
    sock = SocketClient()
    try:
        await sock.connect(server.base_url, user["accessToken"])
        await asyncio.sleep(2.0)  # twice the connect timeout
        answer = await sock.call("session:whoami")
        assert answer["ok"], answer
    finally:
        await sock.close()


async def test_sockets_per_user_are_capped(http: httpx.AsyncClient, server: LiveServer) -> None:
    user = await register(http)
    socks = [SocketClient() for _ in range(4)]
    try:
        for sock in socks[:3]:
            await sock.connect(server.base_url, user["accessToken"])
        with pytest.raises(Exception):  # noqa: B017 - python-socketio raises ConnectionError
            await socks[3].connect(server.base_url, user["accessToken"])
        assert socks[3].connect_error["data"]["code"] == "TOO_MANY_SOCKETS", socks[3].connect_error
        await socks[0].close()
        # Once one is closed a new one is accepted (the count follows disconnects at once).
        again = SocketClient()
        socks.append(again)
        await again.connect(server.base_url, user["accessToken"])
        assert (await again.call("session:whoami"))["ok"]
    finally:
        for sock in socks:
            await sock.close()


async def test_reserved_event_names_are_refused_and_change_nothing(http: httpx.AsyncClient, server: LiveServer) -> None:
    alice, bob = await register(http), await register(http)
    ws = (
        await http.post(
            "/api/v1/workspaces",
            json={"name": unique_name("Res"), "isPublic": True},
            headers=bearer(alice["accessToken"]),
        )
    ).json()
    join = await http.post(f"/api/v1/workspaces/{ws['id']}/join", headers=bearer(bob["accessToken"]))
    assert join.status_code in (200, 201), join.text
    channel_id = (
        await http.get(f"/api/v1/workspaces/{ws['id']}/channels", headers=bearer(alice["accessToken"]))
    ).json()[0]["id"]
    a, b = SocketClient(), SocketClient()
    try:
        await a.connect(server.base_url, alice["accessToken"])
        await b.connect(server.base_url, bob["accessToken"])
        for name in ("disconnect", "connect", "connect_error", "disconnecting", "newListener", "message"):
            answer = await a.call(name, {"x": 1})
            assert answer["ok"] is False and answer["error"]["code"] == "EVENT_RESERVED", (name, answer)
        # Still registered and still in its rooms.
        assert (await a.call("session:whoami"))["ok"]
        sent = await b.call("message:send", {"channelId": channel_id, "content": "still there?", "clientMsgId": "r1"})
        assert sent["ok"], sent
        await a.wait_for("message:new", lambda d: d["message"]["content"] == "still there?")
    finally:
        await a.close()
        await b.close()


def test_an_oversized_polling_post_is_answered_and_shutdown_does_not_hang(tmp_path: Path) -> None:
    live = LiveServer.start(tmp_path / "post", socket_connect_timeout_seconds="60")
    try:
        with httpx.Client(base_url=live.base_url, timeout=15) as http:
            import json

            opened = http.get(POLL)
            sid = json.loads(opened.text[1:])["sid"]
            big = "4" + "x" * (70 * 1024)  # a MESSAGE packet over the 64 KiB default
            answer = http.post(f"{POLL}&sid={sid}", content=big, headers={"Content-Type": "text/plain"})
            assert answer.status_code == 400
            assert http.get(f"{POLL}&sid={sid}").status_code == 400  # the session is closed
            assert http.get("/healthz").status_code == 200
        live.process.send_signal(signal.SIGTERM)
        try:
            code = live.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not stop on SIGTERM within 20 s")
        # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done: -15, never a SIGKILL.
        assert code in (0, -signal.SIGTERM), live.log()[-2000:]
    finally:
        live.stop()


async def test_the_socket_cap_counts_every_worker(tmp_path: Path) -> None:
    from tests.support.redis_server import RedisServer

    redis = RedisServer.start()
    servers: list[LiveServer] = []
    socks: list[SocketClient] = []
    try:
        shared = {"redis_url": redis.url, "max_sockets_per_user": "3"}
        # Two servers on one database and one Redis: two workers of one deployment.
        servers = [LiveServer.start(tmp_path / "cluster", **shared) for _ in range(2)]
        a, b = servers
        async with httpx.AsyncClient(base_url=a.base_url) as client:
            token = (await register(client))["accessToken"]
        for target in (a, a, b):
            sock = SocketClient()
            socks.append(sock)
            await sock.connect(target.base_url, token)
        refused = SocketClient()
        socks.append(refused)
        with pytest.raises(Exception):  # noqa: B017 - python-socketio raises ConnectionError
            await refused.connect(b.base_url, token)
        assert refused.connect_error["data"]["code"] == "TOO_MANY_SOCKETS", refused.connect_error
    finally:
        for sock in socks:
            await sock.close()
        for live in servers:
            live.stop()
        redis.stop()
