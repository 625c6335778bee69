"""Streams a client can trust (issue 11): concurrent senders on two workers sharing one SQLite file, a Redis
restart in the middle, and on each worker a client that follows the documented rule (docs/PROTOCOL.md,
"Event streams"; examples/python/event_stream.py). Each ends with every change, applies none twice, and
fills every hole it meets with `sync`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.support.clients import SocketClient, bearer, register, unique_name
from tests.support.event_stream import EventStream
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

SENDERS_PER_WORKER = 4
MESSAGES_PER_SENDER = 25  # 200 messages in all
CATCH_UP_SECS = 30.0
CHANNEL_EVENTS = ("message:new", "message:updated", "message:deleted", "reaction:added", "reaction:removed")
LIMITS = {"rate_send_burst": "100000", "rate_send_per_second": "10000", "rate_react_burst": "100000"}


@dataclass
class RuleClient:
    """A socket that applies one channel's events by the client rule and records what it applied."""

    channel_id: str
    stream: Any = field(default_factory=EventStream)
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    arrivals: list[int] = field(default_factory=list)  # eventSeq as delivered, before the rule
    applied: list[int] = field(default_factory=list)  # eventSeq applied from live events
    synced: list[tuple[int, int]] = field(default_factory=list)  # (after, up to) ranges covered by sync
    view: dict[str, int] = field(default_factory=dict)  # message id -> lastEventSeq the client shows
    syncs: int = 0

    async def connect(self, server: LiveServer, token: str) -> None:
        async def on_event(event: str, data: Any = None) -> None:
            if event in CHANNEL_EVENTS and isinstance(data, dict) and data.get("channelId") == self.channel_id:
                self.arrivals.append(data["eventSeq"])
                for ready in self.stream.on_event(data):
                    self.applied.append(ready["eventSeq"])
                    self.view[ready["messageId"]] = ready["eventSeq"]

        self.sio.on("*", on_event)
        await self.sio.connect(server.base_url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
        await self.sync()

    async def sync(self) -> None:
        before = self.stream.mark
        answer = await self.sio.call(
            "sync", {"conversations": [{"kind": "channel", "id": self.channel_id, "lastEventSeq": before}]}, timeout=10
        )
        assert answer["ok"], answer
        result = answer["data"][0]
        assert result["recovered"], result
        messages, ready = self.stream.on_sync(result)
        self.syncs += 1
        self.synced.append((before, self.stream.mark))
        for message in messages:
            self.view[message["id"]] = message["lastEventSeq"]
        for event in ready:
            self.applied.append(event["eventSeq"])
            self.view[event["messageId"]] = event["eventSeq"]

    async def catch_up(self, latest: int) -> None:
        """Follow the rule until every change up to `latest` is applied."""
        deadline = asyncio.get_running_loop().time() + CATCH_UP_SECS
        while self.stream.mark < latest:
            assert asyncio.get_running_loop().time() < deadline, (self.stream.mark, latest, sorted(self.stream.held))
            if self.stream.needs_sync():
                await self.sync()
            await asyncio.sleep(0.05)

    def covered(self) -> list[int]:
        """Every eventSeq this client has, from live events and from the ranges its syncs covered."""
        ranges = [n for after, upto in self.synced for n in range(after + 1, upto + 1)]
        return sorted(self.applied + ranges)


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    redis: RedisServer


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis = RedisServer.start()
    shared = {"redis_url": redis.url, "database_url": f"sqlite:///{tmp_path / 'shared.db'}", **LIMITS}
    servers: list[LiveServer] = []
    try:
        servers.append(LiveServer.start(tmp_path / "a", **shared))
        servers.append(LiveServer.start(tmp_path / "b", **shared))
        yield Cluster(servers[0], servers[1], redis)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


async def wait_ready(*servers: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        for server in servers:
            for _ in range(200):
                if (await http.get(f"{server.base_url}/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{server.base_url} not ready again after the Redis restart")


async def sender(sock: SocketClient, channel_id: str, count: int, sent: list[str]) -> None:
    for _ in range(count):
        ack = await sock.call(
            "message:send", {"channelId": channel_id, "content": "hi", "clientMsgId": uuid.uuid4().hex}
        )
        assert ack["ok"], ack
        sent.append(ack["data"]["message"]["id"])


async def test_rule_following_clients_end_with_every_change_once(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.a.base_url, timeout=10.0) as http:
        users = [await register(http, unique_name("so")) for _ in range(3)]
        owner = users[0]
        made = await http.post(
            "/api/v1/workspaces",
            json={"name": unique_name("order"), "isPublic": True},
            headers=bearer(owner["accessToken"]),
        )
        workspace_id = made.json()["id"]
        for user in users[1:]:
            joined = await http.post(f"/api/v1/workspaces/{workspace_id}/join", headers=bearer(user["accessToken"]))
            assert joined.status_code == 200, joined.text
        channels = await http.get(f"/api/v1/workspaces/{workspace_id}/channels", headers=bearer(owner["accessToken"]))
        channel_id = channels.json()[0]["id"]
    watchers = [RuleClient(channel_id), RuleClient(channel_id)]
    await watchers[0].connect(cluster.a, users[2]["accessToken"])
    await watchers[1].connect(cluster.b, users[2]["accessToken"])
    senders: list[SocketClient] = []
    for n in range(SENDERS_PER_WORKER * 2):
        sock = SocketClient()
        await sock.connect((cluster.a, cluster.b)[n % 2].base_url, users[n % 2]["accessToken"])
        senders.append(sock)
    sent: list[str] = []
    try:
        first = [sender(s, channel_id, MESSAGES_PER_SENDER // 2, sent) for s in senders]
        await asyncio.gather(*first)
        restart = asyncio.to_thread(cluster.redis.restart)  # while the second half is being sent
        second = [sender(s, channel_id, MESSAGES_PER_SENDER - MESSAGES_PER_SENDER // 2, sent) for s in senders]
        await asyncio.gather(restart, *second)
        await wait_ready(cluster.a, cluster.b)
        # A lost last event shows only with the next one (or a reconnect): one more change after Redis is back.
        await sender(senders[0], channel_id, 1, sent)
        async with httpx.AsyncClient(base_url=cluster.a.base_url, timeout=10.0) as http:
            state = await http.get(
                f"/api/v1/sync/channel/{channel_id}?afterEventSeq=0&limit=1", headers=bearer(owner["accessToken"])
            )
            history = await http.get(
                f"/api/v1/channels/{channel_id}/messages?limit=100", headers=bearer(owner["accessToken"])
            )
        latest = state.json()["latestEventSeq"]
        assert latest >= len(sent)
        for watcher in watchers:
            await watcher.catch_up(latest)
            assert len(watcher.applied) == len(set(watcher.applied))  # no change applied twice
            assert watcher.covered() == list(range(1, latest + 1))  # every change, each once
            assert set(sent) <= set(watcher.view)  # every message is in the client's view
        assert {m["id"] for m in history.json()} <= set(watchers[0].view)
        inversions = [sum(1 for x, y in zip(w.arrivals, w.arrivals[1:], strict=False) if y < x) for w in watchers]
        print(f"out-of-order arrivals per watcher: {inversions}; syncs: {[w.syncs for w in watchers]}")
    finally:
        for sock in senders:
            await sock.close()
        for watcher in watchers:
            if watcher.sio.connected:
                await watcher.sio.disconnect()
