"""The dashboard's history across real workers sharing Redis: every worker's samples reach a dashboard on any
worker, and a worker that starts later gets the others' history."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[RedisServer, dict[str, str], list[LiveServer]]]:
    redis = RedisServer.start()
    shared = {"redis_url": redis.url, "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
              "dashboard_interval_seconds": "0.5"}  # fmt: skip
    servers: list[LiveServer] = []
    try:
        yield redis, shared, servers
    finally:
        for server in servers:
            server.stop()
        redis.stop()


def samples_by_worker(sock: SocketClient) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in sock.received("dashboard:sample"):
        found.setdefault(event["worker"], []).append(event["sample"])
    return found


@pytest.mark.slow
async def test_every_workers_samples_reach_a_dashboard_on_any_worker(
    cluster: tuple[RedisServer, dict[str, str], list[LiveServer]], tmp_path: Path
) -> None:
    _, shared, servers = cluster
    servers.append(LiveServer.start(tmp_path / "a", **shared))
    servers.append(LiveServer.start(tmp_path / "b", **shared))
    a, b = servers
    admin = unique_name("ops")
    a.create_admin(admin, PASSWORD)
    async with httpx.AsyncClient(base_url=a.base_url) as http_a, httpx.AsyncClient(base_url=b.base_url) as http_b:
        token = (await http_a.post("/api/v1/auth/login", json={"login": admin, "password": PASSWORD})).json()[
            "accessToken"
        ]
        dashboard = SocketClient()
        await dashboard.connect(a.base_url, token)
        user = SocketClient()
        try:
            ack = await dashboard.call("dashboard:subscribe")
            assert ack["ok"], ack
            await dashboard.wait_for("dashboard:sample", lambda e: len(samples_by_worker(dashboard)) >= 2)
            # Traffic on worker B shows on the dashboard connected to worker A.
            alice = await register(http_b)
            ws = await http_b.post("/api/v1/workspaces", json={"name": "R " + uuid.uuid4().hex[:6]},
                                   headers=bearer(alice["accessToken"]))  # fmt: skip
            channel_id = (
                await http_b.get(f"/api/v1/workspaces/{ws.json()['id']}/channels", headers=bearer(alice["accessToken"]))
            ).json()[0]["id"]
            await user.connect(b.base_url, alice["accessToken"])
            for i in range(5):
                sent = await user.call("message:send", {"channelId": channel_id, "content": f"m{i}",
                                                        "clientMsgId": uuid.uuid4().hex})  # fmt: skip
                assert sent["ok"], sent
            workers = (await http_b.get("/api/v1/admin/workers", headers=bearer(token))).json()
            assert all(w["health"]["broker"] == "redis" and w["health"]["brokerOk"] for w in workers), workers

            def b_saw_traffic(_: Any) -> bool:
                by_worker = samples_by_worker(dashboard)
                return any(
                    any(s["sockets"] >= 1 and s["messages"] > 0 for s in samples)
                    for w, samples in by_worker.items()
                    if w != ack["data"]["worker"]["worker"]
                )

            await dashboard.wait_for("dashboard:sample", b_saw_traffic, timeout=15)

            # A worker that starts now asks the others for their history and serves it at once.
            started = time.time()
            servers.append(LiveServer.start(tmp_path / "c", **shared))
            late = SocketClient()
            await late.connect(servers[2].base_url, token)
            try:
                history = (await late.call("dashboard:subscribe"))["data"]["history"]
            finally:
                await late.close()
            older = {h["worker"] for h in history if any(s["t"] < started for s in h["samples"])}
            assert len(older) >= 2, [(h["worker"], len(h["samples"])) for h in history]
        finally:
            await user.close()
            await dashboard.close()
