"""Shared pieces of the direct-message end-to-end tests: servers on both adapters, people with sockets.

Import the fixtures into a test module: `from tests.direct.e2e_support import http, server, sqlite_server`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.conftest import MONGO_ID
from tests.direct.inprocess import mongo_server
from tests.support.clients import PASSWORD, Person, SocketClient, register, unique_name
from tests.support.live_server import LiveServer

_cmid = itertools.count(1)
QUIET_SECS = 0.6  # how long a socket that must receive nothing is watched
TYPING_EXPIRY_SECS = 1.0
SEND_BURST = 30
_cmid = itertools.count(1)


SETTINGS = {
    "typing_expiry_seconds": str(TYPING_EXPIRY_SECS),
    "rate_send_burst": str(SEND_BURST),
    "rate_send_per_second": "0.05",
}


class Server(Protocol):
    base_url: str

    async def create_admin(self) -> str: ...


@dataclass
class SubprocessServer:
    """`connectnow serve` in a subprocess, on SQLite."""

    live: LiveServer

    @property
    def base_url(self) -> str:
        return self.live.base_url

    async def create_admin(self) -> str:
        name = unique_name("admin")
        made = self.live.cli(
            "create-admin", "--email", f"{name}@example.com", "--username", name, "--password-stdin", stdin=PASSWORD
        )
        assert made.returncode == 0, made.stderr
        return name


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path_factory.mktemp("direct"), **SETTINGS)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(params=["sqlite", MONGO_ID])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """Every scenario on both storage adapters: SQLite in a subprocess, MongoDB in process."""
    if request.param == "sqlite":
        yield SubprocessServer(request.getfixturevalue("sqlite_server"))
        return
    async with mongo_server(tmp_path, **SETTINGS) as in_process:
        yield in_process


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15.0) as client:
        yield client


async def people(http: httpx.AsyncClient, server: Server, n: int) -> list[Person]:
    out = [Person(await register(http, unique_name("d"))) for _ in range(n)]
    for p in out:
        await p.sock.connect(server.base_url, p.token)
    return out


async def second_socket(server: Server, person: Person) -> SocketClient:
    sock = SocketClient()
    await sock.connect(server.base_url, person.token)
    return sock


async def close_all(*socks: SocketClient) -> None:
    for sock in socks:
        await sock.close()


def dm(content: str, **target: Any) -> dict[str, Any]:
    return {"content": content, "clientMsgId": f"dm{next(_cmid)}", **target}


async def workspace(owner: Person, http: httpx.AsyncClient) -> tuple[str, str]:
    created = await http.post("/api/v1/workspaces", json={"name": unique_name("ws")}, headers=owner.auth)
    assert created.status_code == 201, created.text
    ws_id = created.json()["id"]
    channels = await http.get(f"/api/v1/workspaces/{ws_id}/channels", headers=owner.auth)
    return ws_id, channels.json()[0]["id"]
