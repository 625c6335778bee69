"""Two real server processes sharing one SQLite file and one real Redis: cluster-wide effects and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def two_workers(tmp_path: Path, own_redis: RedisServer) -> Iterator[tuple[LiveServer, LiveServer]]:
    shared = {"redis_url": own_redis.url, "database_url": f"sqlite:///{tmp_path / 'shared.db'}"}
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


async def test_ban_on_one_worker_disconnects_sockets_on_the_other(two_workers: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_workers
    admin_name = unique_name("admin")
    made = a.cli(
        "create-admin",
        "--email",
        f"{admin_name}@example.com",
        "--username",
        admin_name,
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert made.returncode == 0, made.stderr
    async with httpx.AsyncClient(base_url=a.base_url) as on_a, httpx.AsyncClient(base_url=b.base_url) as on_b:
        admin = (await on_a.post("/api/v1/auth/login", json={"login": admin_name, "password": PASSWORD})).json()
        victim = await register(on_b)
        sock = SocketClient()
        await sock.connect(b.base_url, victim["accessToken"])
        ban = await on_a.post(f"/api/v1/admin/users/{victim['user']['id']}/ban", headers=bearer(admin["accessToken"]))
        assert ban.status_code == 200
        await sock.wait_for("session:ended")
        for _ in range(100):
            if not sock.sio.connected:
                break
            await asyncio.sleep(0.05)
        assert not sock.sio.connected
        await sock.close()


async def test_readyz_names_redis_when_it_is_down_and_recovers(
    two_workers: tuple[LiveServer, LiveServer], own_redis: RedisServer
) -> None:
    a, _ = two_workers
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        assert (await http.get("/readyz")).status_code == 200
        own_redis.stop()
        down = await http.get("/readyz")
        assert down.status_code == 503
        body = down.json()
        assert body["error"]["code"] == "UNAVAILABLE" and body["error"]["details"]["storage"] == "ok"
        assert "redis" in body["error"]["details"]["broker"]
        assert (await http.get("/healthz")).status_code == 200  # alive, just not ready: no crash loop
        own_redis.restart()
        for _ in range(150):
            if (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 200
