"""Presence rules on both back-ends (in-process and a real Redis), several "workers" sharing one back-end.

Events are observed the way another worker would see them: through a second real Redis broker listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import socketio

from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.broker_redis import RedisBroker
from connectnow.realtime.hub import Hub
from connectnow.realtime.presence import PresenceBackend
from connectnow.realtime.presence_memory import MemoryPresence
from connectnow.realtime.presence_redis import RedisPresence
from connectnow.services.presence import PresenceService, now_ms
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
            if message.get("event") == "presence:changed":
                self.events.append(message)

        observer = RedisBroker(self.redis_url, self.prefix)
        await observer.start(record)
        self.brokers.append(observer)

    async def worker(self, *, run: bool = True, **timings: float) -> PresenceService:
        broker = RedisBroker(self.redis_url, self.prefix)
        hub = Hub(socketio.AsyncServer(async_mode="asgi"))
        await hub.attach(broker)
        self.brokers.append(broker)
        service = PresenceService(
            self.backend_factory(), hub, make_settings(self.tmp, **(TIMINGS | timings)), workspaces_of
        )
        if run:
            await service.start()
        self.workers.append(service)
        return service

    def changes(self, user_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["data"]["userId"] == user_id]

    def statuses(self, user_id: str) -> list[str]:
        return [e["data"]["status"] for e in self.changes(user_id)]

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
    rooms = cluster.changes(ALICE)[0]["room"]
    assert sorted(rooms) == ["presence:" + ALICE, "user:" + ALICE, "workspace:w1"]  # one message


async def test_a_big_workspace_hears_changes_only_through_subscriptions(cluster: Cluster) -> None:
    worker = await cluster.worker(presence_broadcast_max_members=10)
    sizes = {"w1": 1000}

    async def size(workspace_id: str) -> int:
        return sizes[workspace_id]

    worker.workspace_size = size  # w1 has 1,000 members: announcing to all of them would cost 1,000 x sockets
    await worker.connected(ALICE, "s1")
    await cluster.wait_status(ALICE, "ONLINE")
    assert sorted(cluster.changes(ALICE)[0]["room"]) == ["presence:" + ALICE, "user:" + ALICE]


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


async def test_offline_comes_within_grace_plus_one_sweep_not_the_ttl(cluster: Cluster) -> None:
    # A long TTL and heartbeat: only the grace period (0.3 s) and the sweep (0.1 s) may decide the timing.
    worker = await cluster.worker(presence_ttl_seconds=30, presence_heartbeat_seconds=10)
    await worker.connected(ALICE, "s1")
    await cluster.wait_status(ALICE, "ONLINE")
    await worker.heartbeat()  # the entry now expires in 30 s: the close must not wait for that
    closed_at = asyncio.get_running_loop().time()
    await worker.disconnected(ALICE, "s1")
    await cluster.wait_status(ALICE, "OFFLINE", timeout=10)
    elapsed = asyncio.get_running_loop().time() - closed_at
    assert 0.3 <= elapsed < 0.3 + 0.1 + 3.0, elapsed  # grace + one sweep, with room for a loaded machine


async def test_last_active_follows_activity_in_query_and_the_offline_announcement(cluster: Cluster) -> None:
    worker = await cluster.worker(presence_away_after_seconds=30, presence_last_active_write_seconds=0.2)
    await worker.connected(ALICE, "s1")
    await cluster.wait_status(ALICE, "ONLINE")
    first = (await worker.query(BOB, PresenceQuery.model_validate({"userIds": [ALICE]})))[0].last_active_at
    assert first is not None
    await asyncio.sleep(0.6)
    worker.touch(ALICE, "s1")
    touched = (await worker.query(BOB, PresenceQuery.model_validate({"userIds": [ALICE]})))[0].last_active_at
    for _ in range(100):  # written by a sweep (0.1 s), throttled to one write per 0.2 s
        if touched is not None and (touched - first).total_seconds() >= 0.5:
            break
        await asyncio.sleep(0.05)
        touched = (await worker.query(BOB, PresenceQuery.model_validate({"userIds": [ALICE]})))[0].last_active_at
    assert touched is not None and (touched - first).total_seconds() >= 0.5, (first, touched)
    await asyncio.sleep(0.6)  # idle, then gone: "last seen" is the last activity, not the moment of leaving
    await worker.disconnected(ALICE, "s1")
    await cluster.wait_status(ALICE, "OFFLINE")
    offline = cluster.changes(ALICE)[-1]["data"]
    seen = datetime.fromisoformat(offline["lastActiveAt"])
    assert abs((seen - touched).total_seconds()) < 0.3, (seen, touched)


async def test_redis_losing_its_data_never_announces_a_connected_user_offline(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    made = Cluster(lambda: RedisPresence(redis_server.url, redis_prefix), redis_server.url, redis_prefix, tmp_path)
    await made.observe()
    try:
        a, b = await made.worker(), await made.worker()
        await a.connected(ALICE, "sa")
        await b.connected(BOB, "sb")
        await made.wait_status(ALICE, "ONLINE")
        await made.wait_status(BOB, "ONLINE")
        flusher = RedisPresence(redis_server.url, redis_prefix)
        await flusher._redis.flushdb()  # every entry, schedule and state gone, as after a restart
        await flusher.close()
        # Within one heartbeat (0.2 s) both workers have re-registered; states are published again.
        for _ in range(100):
            seen = await a.query(ALICE, PresenceQuery.model_validate({"userIds": [ALICE, BOB]}))
            views = await a.backend.read([ALICE, BOB], now_ms())
            if all(v.live for v in views.values()) and all(s.status == "ONLINE" for s in seen):
                break
            await asyncio.sleep(0.05)
        assert {s.user_id: s.status for s in seen} == {ALICE: "ONLINE", BOB: "ONLINE"}
        assert [c.sid for c in views[ALICE].live] == ["sa"] and [c.sid for c in views[BOB].live] == ["sb"]
        await asyncio.sleep(1.0)  # past the TTL of the lost entries: still nobody goes OFFLINE
        assert "OFFLINE" not in made.statuses(ALICE) + made.statuses(BOB)
    finally:
        for service in made.workers:
            await asyncio.wait_for(service.stop(), STOP_TIMEOUT_SECS)
        for broker in made.brokers:
            await asyncio.wait_for(broker.stop(), STOP_TIMEOUT_SECS)


async def test_while_redis_is_down_connects_succeed_and_the_views_reconcile_when_it_returns(
    redis_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer.start()
    hub, broker = Hub(socketio.AsyncServer(async_mode="asgi")), MemoryBroker()
    await hub.attach(broker)
    worker = PresenceService(
        RedisPresence(server.url, redis_prefix),
        hub,
        make_settings(tmp_path, **(TIMINGS | {"presence_away_after_seconds": 30})),
        workspaces_of,
    )
    await worker.start()
    try:
        await worker.connected(ALICE, "before")
        server.process.kill()  # kill -9
        server.process.wait()
        await asyncio.wait_for(worker.connected(BOB, "during"), 5)  # does not hang, does not raise
        assert worker.degraded is not None
        seen = await worker.query(ALICE, PresenceQuery.model_validate({"userIds": [ALICE, BOB]}))
        assert {s.user_id: s.status for s in seen} == {ALICE: "ONLINE", BOB: "ONLINE"}  # this worker's view
        await asyncio.sleep(1.0)  # several sweeps while down: one log line, no traceback per sweep
        server.restart()
        for _ in range(200):
            if worker.degraded is None:
                break
            await asyncio.sleep(0.05)
        assert worker.degraded is None
        views = await worker.backend.read([ALICE, BOB], now_ms())
        assert [c.sid for c in views[ALICE].live] == ["before"] and [c.sid for c in views[BOB].live] == ["during"]
        for _ in range(100):  # the next sweep publishes both states again
            states = await worker.backend.get_states([ALICE, BOB])
            if len(states) == 2:
                break
            await asyncio.sleep(0.05)
        assert {uid: worker.decode(uid, raw).status for uid, raw in states.items()} == {
            ALICE: "ONLINE",
            BOB: "ONLINE",
        }
        lines = [r for r in caplog.records if r.name == "connectnow.presence"]
        assert [r.getMessage().split(":")[0] for r in lines] == ["presence degraded", "presence restored"]
        assert all(r.exc_info is None for r in lines)
    finally:
        await asyncio.wait_for(worker.stop(), STOP_TIMEOUT_SECS)
        await broker.stop()
        server.stop()
