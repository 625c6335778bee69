"""Issue 4 end to end: two real server processes sharing one SQLite file and one real Redis."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import SocketClient, bearer, register
from tests.support.live_server import LiveServer, running
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

PRESENCE = {
    "presence_ttl_seconds": "2",
    "presence_heartbeat_seconds": "0.5",
    "presence_sweep_seconds": "0.2",
    "presence_offline_grace_seconds": "0.5",
    "presence_away_after_seconds": "2",
}


@dataclass
class Pair:
    a: LiveServer
    b: LiveServer
    redis: RedisServer


@contextmanager
def started_pair(root: Path) -> Iterator[Pair]:
    redis = RedisServer.start()
    shared = {"redis_url": redis.url, "database_url": f"sqlite:///{root / 'shared.db'}", **PRESENCE}
    try:
        with running(root / "a", **shared) as a, running(root / "b", **shared) as b:
            yield Pair(a, b, redis)
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with started_pair(tmp_path_factory.mktemp("pair")) as made:
        yield made


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """The module's pair; a test marked `own_servers` (it kills a worker or stops Redis) gets one of its own."""
    if request.node.get_closest_marker("own_servers") is None:
        yield request.getfixturevalue("shared_pair")
        return
    with started_pair(tmp_path) as made:
        yield made


@dataclass
class Chat:
    """A workspace on the pair: alice owns it, bob is a member, carol is not."""

    http_a: httpx.AsyncClient
    http_b: httpx.AsyncClient
    alice: dict[str, Any]
    bob: dict[str, Any]
    carol: dict[str, Any]
    workspace_id: str
    channel_id: str
    sockets: list[SocketClient]

    async def socket(self, server: LiveServer, user: dict[str, Any]) -> SocketClient:
        sock = SocketClient()
        await sock.connect(server.base_url, user["accessToken"])
        self.sockets.append(sock)
        return sock


@pytest.fixture
async def chat(pair: Pair) -> AsyncIterator[Chat]:
    async with (
        httpx.AsyncClient(base_url=pair.a.base_url) as http_a,
        httpx.AsyncClient(base_url=pair.b.base_url) as http_b,
    ):
        alice, bob, carol = await register(http_a), await register(http_b), await register(http_b)
        ws = await http_a.post(
            "/api/v1/workspaces",
            json={"name": "Scale " + uuid.uuid4().hex[:6], "isPublic": True},
            headers=bearer(alice["accessToken"]),
        )
        assert ws.status_code == 201, ws.text
        workspace_id = ws.json()["id"]
        joined = await http_b.post(f"/api/v1/workspaces/{workspace_id}/join", headers=bearer(bob["accessToken"]))
        assert joined.status_code == 200, joined.text
        channels = await http_a.get(f"/api/v1/workspaces/{workspace_id}/channels", headers=bearer(alice["accessToken"]))
        channel_id = channels.json()[0]["id"]
        made = Chat(http_a, http_b, alice, bob, carol, workspace_id, channel_id, [])
        try:
            yield made
        finally:
            for sock in made.sockets:
                await sock.close()


async def send(sock: SocketClient, channel_id: str, text: str) -> dict[str, Any]:
    ack = await sock.call("message:send", {"channelId": channel_id, "content": text, "clientMsgId": uuid.uuid4().hex})
    assert ack["ok"], ack
    message: dict[str, Any] = ack["data"]["message"]
    return message


def new_messages(sock: SocketClient, message_id: str) -> list[Any]:
    return [e for e in sock.received("message:new") if e["messageId"] == message_id]


async def test_message_on_a_reaches_b_exactly_once_and_only_allowed_sockets(pair: Pair, chat: Chat) -> None:
    alice_a = await chat.socket(pair.a, chat.alice)
    bob_b = await chat.socket(pair.b, chat.bob)
    bob_a = await chat.socket(pair.a, chat.bob)  # bob's second device, on the other worker
    carol_b = await chat.socket(pair.b, chat.carol)
    message = await send(alice_a, chat.channel_id, "hello across workers")
    await bob_b.wait_for("message:new", lambda e: e["messageId"] == message["id"])
    await bob_a.wait_for("message:new", lambda e: e["messageId"] == message["id"])
    await asyncio.sleep(0.5)
    assert len(new_messages(bob_b, message["id"])) == 1
    assert len(new_messages(bob_a, message["id"])) == 1
    assert len(new_messages(alice_a, message["id"])) == 1
    assert carol_b.received("message:new") == []


async def presence_of(sock: SocketClient, user_id: str) -> str:
    ack = await sock.call("presence:query", {"userIds": [user_id]})
    assert ack["ok"], ack
    return str(ack["data"][0]["status"])


async def wait_presence(sock: SocketClient, user_id: str, status: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await presence_of(sock, user_id) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user_id} never became {status}")


@pytest.mark.own_servers
async def test_presence_is_the_same_from_both_workers_and_a_killed_worker_lapses(pair: Pair, chat: Chat) -> None:
    alice_a = await chat.socket(pair.a, chat.alice)
    bob_b = await chat.socket(pair.b, chat.bob)
    await wait_presence(alice_a, chat.bob["user"]["id"], "ONLINE")
    assert await presence_of(bob_b, chat.alice["user"]["id"]) == "ONLINE"
    assert await presence_of(alice_a, chat.alice["user"]["id"]) == "ONLINE"
    # carol shares no workspace with alice: her presence is not shown to alice
    hidden = await alice_a.call("presence:query", {"userIds": [chat.carol["user"]["id"]]})
    assert hidden["ok"] and hidden["data"] == []
    pair.b.stop(signal.SIGKILL)  # bob's only worker dies without a word
    await alice_a.wait_for(
        "presence:changed", lambda e: e["userId"] == chat.bob["user"]["id"] and e["status"] == "OFFLINE", timeout=10
    )
    assert await presence_of(alice_a, chat.bob["user"]["id"]) == "OFFLINE"


async def test_two_devices_one_idle_stays_online(pair: Pair, chat: Chat) -> None:
    alice_a = await chat.socket(pair.a, chat.alice)
    await chat.socket(pair.a, chat.bob)  # bob's phone: connected, then idle
    laptop = await chat.socket(pair.b, chat.bob)
    user_id = chat.bob["user"]["id"]
    await wait_presence(alice_a, user_id, "ONLINE")
    for _ in range(16):  # 4 s: twice the away threshold, with the laptop active throughout
        await laptop.call("session:whoami")
        await asyncio.sleep(0.25)
    assert await presence_of(alice_a, user_id) == "ONLINE"
    away = [e for e in alice_a.received("presence:changed") if e["userId"] == user_id and e["status"] == "AWAY"]
    assert away == []


@pytest.mark.own_servers
async def test_redis_outage_loses_no_acknowledged_message_and_sync_fills_the_gap(pair: Pair, chat: Chat) -> None:
    alice_a = await chat.socket(pair.a, chat.alice)
    bob_b = await chat.socket(pair.b, chat.bob)
    first = await send(alice_a, chat.channel_id, "before the outage")
    seen = await bob_b.wait_for("message:new", lambda e: e["messageId"] == first["id"])
    last_seen = seen["eventSeq"]
    pair.redis.stop()
    during = [await send(alice_a, chat.channel_id, f"during the outage {i}") for i in range(3)]
    await asyncio.sleep(0.3)
    assert not any(new_messages(bob_b, m["id"]) for m in during)  # B could not hear them live
    pair.redis.restart()
    ack = await bob_b.call(
        "sync", {"conversations": [{"kind": "channel", "id": chat.channel_id, "lastEventSeq": last_seen}]}
    )
    assert ack["ok"], ack
    result = ack["data"][0]
    assert result["recovered"] is True
    assert [m["id"] for m in result["messages"]] == [m["id"] for m in during]
    assert [m["seq"] for m in result["messages"]] == [first["seq"] + 1, first["seq"] + 2, first["seq"] + 3]


async def test_sync_refuses_conversations_the_user_cannot_read(pair: Pair, chat: Chat) -> None:
    carol_b = await chat.socket(pair.b, chat.carol)
    ack = await carol_b.call("sync", {"conversations": [{"kind": "channel", "id": chat.channel_id, "lastEventSeq": 0}]})
    assert ack["ok"] and ack["data"][0]["recovered"] is False and ack["data"][0]["error"]["code"] == "NOT_FOUND"
    assert ack["data"][0]["messages"] == []
    bad = await carol_b.call("sync", {"conversations": [{"kind": "channel", "id": {"$ne": None}, "lastEventSeq": 0}]})
    assert bad["ok"] is False and bad["error"]["code"] == "VALIDATION_FAILED"


async def test_offline_past_the_bound_gets_the_range_and_a_cursor(tmp_path: Path) -> None:
    server = LiveServer.start(tmp_path / "bounded", sync_max_messages="3")
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            alice = await register(http)
            ws = await http.post("/api/v1/workspaces", json={"name": "Bound"}, headers=bearer(alice["accessToken"]))
            workspace_id = ws.json()["id"]
            channels = await http.get(
                f"/api/v1/workspaces/{workspace_id}/channels", headers=bearer(alice["accessToken"])
            )
            channel_id = channels.json()[0]["id"]
            sock = SocketClient()
            await sock.connect(server.base_url, alice["accessToken"])
            try:
                sent = [await send(sock, channel_id, f"m{i}") for i in range(5)]
                ack = await sock.call(
                    "sync", {"conversations": [{"kind": "channel", "id": channel_id, "lastEventSeq": 0}]}
                )
            finally:
                await sock.close()
            result = ack["data"][0]
            assert result["recovered"] is False and result["messages"] == []
            assert result["gap"]["fromEventSeq"] == 1 and result["gap"]["toEventSeq"] == result["latestEventSeq"]
            paged: list[str] = []
            cursor = result["cursor"] + "&limit=2"
            while cursor:
                page = (await http.get(cursor, headers=bearer(alice["accessToken"]))).json()
                paged += [m["id"] for m in page["messages"]]
                cursor = page["nextCursor"] and page["nextCursor"] + "&limit=2"
            assert [m["id"] for m in sent] == [p for p in paged if p in {m["id"] for m in sent}]
    finally:
        server.stop()
