"""Two real server processes sharing one SQLite file and one real Redis: direct messages, typing and rate
limits behave as one cluster (rooms joined on one worker, events and buckets shared through Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.clients import SocketClient, register, unique_name
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
SEND_BURST = 6
PREFIX = "cn3b"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def two_workers(tmp_path: Path, own_redis: RedisServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    shared = {
        "redis_url": own_redis.url,
        "redis_prefix": PREFIX,
        "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
        "rate_send_burst": str(SEND_BURST),
        "rate_send_per_second": "0.01",
        "typing_expiry_seconds": "1",
    }
    a = LiveServer.start(tmp_path / "a", **shared)
    try:
        b = LiveServer.start(tmp_path / "b", **shared)
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


async def test_direct_messages_typing_and_limits_across_workers(
    two_workers: tuple[LiveServer, LiveServer], own_redis: RedisServer
) -> None:
    a, b = two_workers
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        alice, bob, carol = [await register(http, unique_name("r")) for _ in range(3)]
    alice_a, alice_b, bob_b, carol_b = SocketClient(), SocketClient(), SocketClient(), SocketClient()
    await alice_a.connect(a.base_url, alice["accessToken"])
    await alice_b.connect(b.base_url, alice["accessToken"])
    await bob_b.connect(b.base_url, bob["accessToken"])
    await carol_b.connect(b.base_url, carol["accessToken"])
    try:
        # The conversation is created on worker A; bob's socket lives on worker B and is moved into its room.
        first = await alice_a.call("dm:send", {"userId": bob["user"]["id"], "content": "hi", "clientMsgId": "x0"})
        assert first["ok"], first
        cid = first["data"]["message"]["conversationId"]
        await bob_b.wait_for("dm:message", lambda d: d["messageId"] == first["data"]["message"]["id"])
        await alice_b.wait_for("dm:message", lambda d: d["messageId"] == first["data"]["message"]["id"])

        # Typing on A reaches bob on B, and none of alice's sockets on either worker.
        assert (await alice_a.call("typing:start", {"conversationId": cid}))["ok"]
        await bob_b.wait_for("typing:started", lambda d: d["userId"] == alice["user"]["id"])
        await bob_b.wait_for("typing:stopped", lambda d: d["reason"] == "expired", timeout=5)

        # One bucket for both workers: SEND_BURST sends in all, wherever they arrive.
        answers = []
        for i in range(SEND_BURST + 3):
            sock = alice_a if i % 2 else alice_b
            answers.append(
                await sock.call("dm:send", {"conversationId": cid, "content": f"m{i}", "clientMsgId": f"x{i + 1}"})
            )
        assert sum(1 for x in answers if x["ok"]) == SEND_BURST - 1  # the first message used a token too
        refused = [x for x in answers if not x["ok"]]
        assert {x["error"]["code"] for x in refused} == {"RATE_LIMITED"}
        assert all(x["error"]["details"]["retryAfter"] > 0 for x in refused)
        client = aioredis.from_url(own_redis.url)
        try:
            assert await client.exists(f"{PREFIX}:rl:send:{alice['user']['id']}") == 1
            assert await client.pttl(f"{PREFIX}:rl:send:{alice['user']['id']}") > 0
        finally:
            await client.aclose()

        await asyncio.sleep(0.5)
        assert [e for e, _ in carol_b.events if e.startswith(("dm:", "typing:"))] == []
        for sock in (alice_a, alice_b):
            assert [e for e, _ in sock.events if e.startswith("typing:")] == []
    finally:
        for sock in (alice_a, alice_b, bob_b, carol_b):
            await sock.close()
