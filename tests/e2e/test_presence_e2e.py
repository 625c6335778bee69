"""Issue 12 end to end: presence under Redis faults and to the second, two real workers and a real Redis.

The bounds asserted here are the ones docs/PROTOCOL.md promises, computed from the settings below, with slack
for a loaded machine; the TTL is long (10 s) so that a status decided by the TTL instead of the grace period
or the heartbeat cannot pass.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectnow.realtime.broker_redis import WATCHDOG_INTERVAL_SECS
from tests.support.clients import Person, SocketClient, bearer, register
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

GRACE, SWEEP, HEARTBEAT, TTL = 0.5, 0.2, 0.5, 10.0
SETTINGS = {
    "presence_ttl_seconds": str(TTL),
    "presence_heartbeat_seconds": str(HEARTBEAT),
    "presence_sweep_seconds": str(SWEEP),
    "presence_offline_grace_seconds": str(GRACE),
    "presence_away_after_seconds": "30",
    "presence_last_active_write_seconds": "0.2",
}
SLACK = 3.0  # a loaded 2-core machine: still far below the TTL


@dataclass
class Site:
    """Workers (one or two), the Redis they share (if any), and a workspace whose members are `people`."""

    workers: list[LiveServer]
    redis: RedisServer | None
    people: list[Person]
    workspace_id: str

    async def connect(self, person: Person, worker: int) -> SocketClient:
        sock = await person.connect(self.workers[worker])
        return sock

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.process.send_signal(signal.SIGKILL)
        self.redis.process.wait()


def start_site(tmp_path: Path, *, with_redis: bool, **extra: str) -> tuple[list[LiveServer], RedisServer | None]:
    redis = RedisServer.start() if with_redis else None
    shared = {
        "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
        "metrics_allowed_networks": "127.0.0.1",  # the tests read /metrics as the local Prometheus would
        **SETTINGS,
        **extra,
    }
    if redis is not None:
        shared["redis_url"] = redis.url
    workers: list[LiveServer] = []
    try:
        for name in ("a", "b") if with_redis else ("a",):
            workers.append(LiveServer.start(tmp_path / name, **shared))
    except BaseException:
        stop_site(workers, redis)
        raise
    return workers, redis


def stop_site(workers: list[LiveServer], redis: RedisServer | None) -> None:
    for worker in workers:
        worker.stop()
    if redis is not None:
        redis.stop()


@pytest.fixture(params=["redis", "memory"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def servers(tmp_path: Path, backend: str) -> Iterator[tuple[list[LiveServer], RedisServer | None]]:
    made = start_site(tmp_path, with_redis=backend == "redis")
    try:
        yield made
    finally:
        stop_site(*made)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[list[LiveServer], RedisServer | None]]:
    # Its workspace has 3 members: above this, changes reach only the sockets that subscribed.
    made = start_site(tmp_path, with_redis=True, presence_broadcast_max_members="2")
    try:
        yield made
    finally:
        stop_site(*made)


async def make_site(made: tuple[list[LiveServer], RedisServer | None], count: int) -> Site:
    workers, redis = made
    async with httpx.AsyncClient(base_url=workers[0].base_url) as http:
        people = [Person(await register(http)) for _ in range(count)]
        owner = people[0]
        ws = await http.post(
            "/api/v1/workspaces", json={"name": "P " + uuid.uuid4().hex[:6], "isPublic": True}, headers=owner.auth
        )
        assert ws.status_code == 201, ws.text
        for person in people[1:]:
            joined = await http.post(f"/api/v1/workspaces/{ws.json()['id']}/join", headers=bearer(person.token))
            assert joined.status_code == 200, joined.text
    return Site(workers, redis, people, ws.json()["id"])


@pytest.fixture
async def site(servers: tuple[list[LiveServer], RedisServer | None]) -> AsyncIterator[Site]:
    made = await make_site(servers, 2)
    try:
        yield made
    finally:
        for person in made.people:
            await person.sock.close()


@pytest.fixture
async def pair_site(two_workers: tuple[list[LiveServer], RedisServer | None]) -> AsyncIterator[Site]:
    made = await make_site(two_workers, 3)
    try:
        yield made
    finally:
        for person in made.people:
            await person.sock.close()


async def states(viewer: Person, *people: Person) -> dict[str, str]:
    seen = await viewer.ok("presence:query", {"userIds": [p.id for p in people]})
    return {s["userId"]: s["status"] for s in seen}


def announced(person: Person, status: str) -> list[str]:
    """Users announced with `status` to this person's socket."""
    return [u["userId"] for u in person.sock.received("presence:changed") if u["status"] == status]


def went(user: Person, status: str) -> Any:
    return lambda e: e["userId"] == user.id and e["status"] == status


async def wait_until(check: object, timeout: float) -> float:
    """Seconds until the async predicate held; fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


async def test_redis_kill9_and_restart_keeps_connected_users_online(pair_site: Site) -> None:
    """Users on both workers; Redis is killed (-9), a device connects during the outage, Redis restarts empty."""
    alice, bob, carol = pair_site.people
    a = pair_site.workers[0]
    await pair_site.connect(alice, 0)
    await pair_site.connect(bob, 1)
    await pair_site.connect(carol, 1)
    everyone = (alice, bob, carol)
    for person in everyone:  # a 3-member workspace above the broadcast limit (2): changes come by subscription
        await person.ok("presence:subscribe", {"userIds": [p.id for p in everyone if p is not person]})
    truth = {p.id: "ONLINE" for p in everyone}
    await wait_until(lambda: _same(states(alice, *everyone), truth), 10)
    assert await states(carol, *everyone) == truth

    pair_site.kill_redis()
    bob_phone = SocketClient()  # connecting while Redis is down succeeds (the client gives up after 5 s)
    await bob_phone.connect(a.base_url, bob.token)
    try:
        assert (await bob_phone.call("session:whoami"))["data"]["user"]["id"] == bob.id
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            ready = (await http.get("/readyz")).json()
            assert ready["presence"].startswith("degraded"), ready
            assert "connectnow_presence_degraded 1.0" in (await http.get("/metrics")).text
            await asyncio.sleep(1.0)  # several sweeps and heartbeats against a dead Redis
            assert await states(alice, *everyone) == truth  # each worker: its own sockets, the last states seen
            assert await states(carol, *everyone) == truth
            assert pair_site.redis is not None
            pair_site.redis.restart()  # same port, no data

            # Both workers back to the truth within one heartbeat and one sweep (slack for the machine).
            await wait_until(lambda: _same(states(alice, *everyone), truth), HEARTBEAT + SWEEP + SLACK)
            await wait_until(lambda: _same(states(carol, *everyone), truth), HEARTBEAT + SWEEP + SLACK)

            async def presence_ok() -> bool:
                return bool((await http.get("/readyz")).json().get("presence") == "ok")

            await wait_until(presence_ok, HEARTBEAT + SWEEP + SLACK)
            assert "connectnow_presence_degraded 0.0" in (await http.get("/metrics")).text

            async def lag_measured() -> bool:  # the broker's own pings come back and time the pub/sub hop
                text = (await http.get("/metrics")).text
                counts = [ln for ln in text.splitlines() if ln.startswith("connectnow_pubsub_lag_seconds_count")]
                return bool(counts) and float(counts[0].split()[-1]) > 0

            await wait_until(lag_measured, WATCHDOG_INTERVAL_SECS + SLACK)
        await asyncio.sleep(TTL / 5)  # more heartbeats and sweeps: nothing flips
        assert await states(alice, *everyone) == truth and await states(carol, *everyone) == truth
        for person in everyone:
            assert announced(person, "OFFLINE") == [], person.sock.events
        log = a.log()  # one line per change of state, no traceback per sweep
        assert log.count("presence degraded") == 1 and log.count("presence restored") == 1, log
        assert "presence sweep failed" not in log, log
    finally:
        await bob_phone.close()

    await bob.sock.close()  # bob's phone is gone too: he leaves, and his subscribers hear it after the outage
    await alice.sock.wait_for("presence:changed", went(bob, "OFFLINE"))
    await carol.sock.wait_for("presence:changed", went(bob, "OFFLINE"))


async def _same(answer: object, truth: dict[str, str]) -> bool:
    return await answer == truth  # type: ignore[misc]


async def test_last_active_follows_activity_and_offline_comes_within_grace_plus_one_sweep(site: Site) -> None:
    """Both back ends: lastActiveAt moves with activity; OFFLINE comes grace + one sweep after the close."""
    alice, bob = site.people
    await site.connect(alice, 0)
    await site.connect(bob, len(site.workers) - 1)  # with Redis: the other worker

    async def bob_last_active() -> datetime | None:
        seen = await alice.ok("presence:query", {"userIds": [bob.id]})
        return datetime.fromisoformat(seen[0]["lastActiveAt"]) if seen[0].get("lastActiveAt") else None

    async def known() -> bool:
        return await bob_last_active() is not None

    await wait_until(known, 10)
    first = await bob_last_active()
    assert first is not None
    await asyncio.sleep(1.5)  # bob's entry is renewed meanwhile: it now expires TTL (10 s) from now
    await bob.ok("session:whoami")  # activity

    async def moved() -> bool:
        now = await bob_last_active()
        return now is not None and (now - first).total_seconds() >= 1.4

    await wait_until(moved, 10)
    latest = await bob_last_active()
    closed = time.monotonic()
    await bob.sock.close()
    gone = await alice.sock.wait_for("presence:changed", went(bob, "OFFLINE"), timeout=TTL)
    elapsed = time.monotonic() - closed
    assert GRACE - 0.1 <= elapsed < GRACE + SWEEP + SLACK, elapsed
    # "last seen" is his last activity, not the connect or the close
    assert latest is not None and abs((datetime.fromisoformat(gone["lastActiveAt"]) - latest).total_seconds()) < 1


async def test_subscriptions_in_a_big_workspace_reach_only_subscribers_and_only_co_members(pair_site: Site) -> None:
    alice, bob, carol = pair_site.people
    async with httpx.AsyncClient(base_url=pair_site.workers[0].base_url) as http:
        stranger = Person(await register(http))  # shares no workspace with anyone here
    await pair_site.connect(alice, 0)
    await pair_site.connect(carol, 0)
    await pair_site.connect(stranger, 1)
    seen = await alice.ok("presence:subscribe", {"userIds": [bob.id, stranger.id]})
    assert [s["userId"] for s in seen] == [bob.id]  # the stranger is left out
    assert await stranger.ok("presence:subscribe", {"userIds": [bob.id]}) == []
    await pair_site.connect(bob, 1)
    await alice.sock.wait_for("presence:changed", went(bob, "ONLINE"))
    await asyncio.sleep(1.0)
    assert [e for e in carol.sock.received("presence:changed") if e["userId"] == bob.id] == []  # not subscribed
    assert [e for e in stranger.sock.received("presence:changed") if e["userId"] != stranger.id] == []
    await alice.ok("presence:subscribe", {"userIds": []})  # unsubscribe: bob's changes are not heard any more
    await carol.ok("presence:subscribe", {"userIds": [bob.id]})
    async with httpx.AsyncClient(base_url=pair_site.workers[0].base_url) as http:
        left = await http.post(f"/api/v1/workspaces/{pair_site.workspace_id}/leave", headers=carol.auth)
        assert left.status_code == 204, left.text
    await asyncio.sleep(HEARTBEAT * 4)  # subscriptions are checked again with every heartbeat
    await bob.sock.close()
    await asyncio.sleep(GRACE + SWEEP + 1.0)
    assert announced(alice, "OFFLINE") == []
    assert announced(carol, "OFFLINE") == []  # carol left the workspace: her subscription to bob ended
    await stranger.sock.close()
