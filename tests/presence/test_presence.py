"""Presence rules on both back-ends (in-process and a real Redis), several "workers" sharing one back-end.

Events are observed the way another worker would see them: through a second real Redis broker listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio

from connectnow.realtime.broker_redis import RedisBroker
from connectnow.realtime.hub import Hub
from connectnow.realtime.presence import PresenceBackend
from connectnow.realtime.presence_memory import MemoryPresence
from connectnow.realtime.presence_redis import RedisPresence
from connectnow.services.presence import PresenceService
from models.presence import PresenceQuery, PresenceSet
from tests.conftest import make_settings
from tests.support.redis_server import RedisServer

ALICE, BOB, CAROL = "a" * 24, "b" * 24, "c" * 24
STOP_TIMEOUT_SECS = 10.0  # a component that cannot stop in this time is a bug: fail and name it
WORKSPACES = {ALICE: ["w1"], BOB: ["w1"], CAROL: ["w2"]}
TIMINGS = {
    "presence_away_after_seconds": 0.6,
    "presence_offline_grace_seconds": 0.3,
    "presence_ttl_seconds": 0.8,
    "presence_heartbeat_seconds": 0.2,
    "presence_sweep_seconds": 0.1,
}


async def workspaces_of(user_id: str) -> list[str]:
    return WORKSPACES.get(user_id, [])


@dataclass
class Cluster:
    """Presence services ("workers") over one back-end, plus a listener that sees every published event."""

    backend_factory: Callable[[], PresenceBackend]
    redis_url: str
    prefix: str
    tmp: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    workers: list[PresenceService] = field(default_factory=list)
    brokers: list[RedisBroker] = field(default_factory=list)

    async def observe(self) -> None:
        async def record(message: dict[str, Any]) -> None:
            if message.get("event") in ("presence:changed", "presence:batch"):
                self.events.append(message)

        observer = RedisBroker(self.redis_url, self.prefix)
        await observer.start(record)
        self.brokers.append(observer)

    async def worker(self, *, run: bool = True) -> PresenceService:
        broker = RedisBroker(self.redis_url, self.prefix)
        hub = Hub(socketio.AsyncServer(async_mode="asgi"))
        await hub.attach(broker)
        self.brokers.append(broker)
        service = PresenceService(self.backend_factory(), hub, make_settings(self.tmp, **TIMINGS), workspaces_of)
        if run:
            await service.start()
        self.workers.append(service)
        return service

    def changes(self, user_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "presence:changed" and e["data"]["userId"] == user_id]

    def statuses(self, user_id: str) -> list[str]:
        return [e["data"]["status"] for e in self.changes(user_id)]

    def batches(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "presence:batch"]

    async def wait_status(self, user_id: str, status: str, timeout: float = 5.0) -> None:
        for _ in range(int(timeout / 0.02)):
            if self.statuses(user_id)[-1:] == [status]:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{user_id[:4]} never became {status}: {self.statuses(user_id)}")


@pytest.fixture(params=["memory", "redis"])
async def cluster(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    redis_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Cluster]:
    if request.param == "memory":
        shared = MemoryPresence()  # one process: every "worker" shares the in-process back-end
        factory: Callable[[], PresenceBackend] = lambda: shared  # noqa: E731
    else:
        factory = lambda: RedisPresence(redis_server.url, redis_prefix)  # noqa: E731
    made = Cluster(factory, redis_server.url, redis_prefix, tmp_path)
    await made.observe()
    try:
        yield made
    finally:
        for service in made.workers:
            await asyncio.wait_for(service.stop(), STOP_TIMEOUT_SECS)
        for broker in made.brokers:
            await asyncio.wait_for(broker.stop(), STOP_TIMEOUT_SECS)
        stuck = [r.getMessage() for r in caplog.records if "did not stop" in r.getMessage()]
        assert stuck == [], "\n".join(stuck)


async def test_connect_goes_online_to_workspace_members_and_own_devices(cluster: Cluster) -> None:
    worker = await cluster.worker()
    await worker.connected(ALICE, "s1")
    await cluster.wait_status(ALICE, "ONLINE")
    assert cluster.changes(ALICE)[0]["room"] == "user:" + ALICE  # her own devices, at once
    for _ in range(100):  # co-members: in the workspace's next batch
        if cluster.batches():
            break
        await asyncio.sleep(0.02)
    batch = cluster.batches()[0]
    assert batch["room"] == "workspace:w1"
    assert [(u["userId"], u["status"]) for u in batch["data"]["users"]] == [(ALICE, "ONLINE")]


async def test_one_idle_device_does_not_make_a_busy_user_away(cluster: Cluster) -> None:
    worker = await cluster.worker()
    await worker.connected(ALICE, "phone")
    await worker.connected(ALICE, "laptop")
    for _ in range(8):  # the laptop stays active for longer than the away threshold; the phone idles
        worker.touch(ALICE, "laptop")
        await asyncio.sleep(0.1)
    assert cluster.statuses(ALICE) == ["ONLINE"]
    await cluster.wait_status(ALICE, "AWAY")  # now both idle
    worker.touch(ALICE, "phone")  # back at the phone: online at once
    await cluster.wait_status(ALICE, "ONLINE")


async def test_busy_with_expiry_then_back_online(cluster: Cluster) -> None:
    worker = await cluster.worker()
    await worker.connected(ALICE, "s1")
    busy = await worker.set_status(ALICE, PresenceSet.model_validate({"status": "BUSY", "statusText": "focus"}))
    assert busy.status == "BUSY" and busy.status_text == "focus"
    await cluster.wait_status(ALICE, "BUSY")
    online = await worker.set_status(ALICE, PresenceSet.model_validate({"status": "ONLINE"}))
    assert online.status == "ONLINE"
    await cluster.wait_status(ALICE, "ONLINE")


async def test_reload_within_grace_does_not_flap(cluster: Cluster) -> None:
    worker = await cluster.worker()
    await worker.connected(ALICE, "tab1")
    await cluster.wait_status(ALICE, "ONLINE")
    await worker.disconnected(ALICE, "tab1")
    await asyncio.sleep(0.1)
    await worker.connected(ALICE, "tab2")
    # Past the grace period (0.3 s) and a sweep, but short of the away threshold (0.6 s since tab2 came).
    await asyncio.sleep(0.4)
    assert cluster.statuses(ALICE) == ["ONLINE"]
    await worker.disconnected(ALICE, "tab2")
    await cluster.wait_status(ALICE, "OFFLINE")
    assert cluster.statuses(ALICE)[-2:] == ["ONLINE", "OFFLINE"] or cluster.statuses(ALICE)[-2:] == [
        "AWAY",
        "OFFLINE",
    ]
    assert "OFFLINE" not in cluster.statuses(ALICE)[:-1]  # the reload itself never showed OFFLINE


async def test_users_of_a_crashed_worker_go_offline_once(cluster: Cluster) -> None:
    crashed = await cluster.worker()
    survivors = [await cluster.worker(), await cluster.worker()]
    await crashed.connected(BOB, "s1")
    await cluster.wait_status(BOB, "ONLINE")
    await crashed.stop()  # no disconnect, no more heartbeats: like kill -9
    cluster.workers.remove(crashed)
    await cluster.wait_status(BOB, "OFFLINE", timeout=5)
    await asyncio.sleep(0.5)
    assert cluster.statuses(BOB) == ["ONLINE", "OFFLINE"]  # two sweepers, one announcement
    assert all(s.changes_published <= 1 for s in survivors)


async def test_query_shows_only_users_sharing_a_workspace(cluster: Cluster) -> None:
    worker = await cluster.worker()
    await worker.connected(BOB, "s1")
    await worker.connected(CAROL, "s2")
    await cluster.wait_status(CAROL, "ONLINE")
    seen = await worker.query(ALICE, PresenceQuery.model_validate({"userIds": [BOB, CAROL, ALICE]}))
    assert {p.user_id: p.status for p in seen} == {BOB: "ONLINE", ALICE: "OFFLINE"}
