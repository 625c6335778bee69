"""Shared fixtures: both storage adapters, a real Redis server, a live ConnectNow server."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from connectnow.config import Settings
from connectnow.store.port import DocumentStore
from connectnow.store.store_sqlite import SqliteStore
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer

# The suite starts a few hundred Python processes (servers, CLI commands, workers): let them cache compiled
# bytecode rather than compile connectnow's 230 modules anew each time, as they would where the environment
# sets PYTHONDONTWRITEBYTECODE (then this process too would rewrite and compile every test module afresh).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

MONGODB_URL = os.environ.get("CONNECTNOW_TEST_MONGODB_URL")
# The test id says which MongoDB ran: a real server, or mongomock-motor standing in for one.
MONGO_ID = "mongodb-real" if MONGODB_URL else "mongomock"
STORE_KINDS = ["sqlite", MONGO_ID]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "development",
        "data_dir": tmp_path / "data",
        "rate_auth_address_burst": 100_000,  # every test client signs in from one address
        "rate_auth_address_per_second": 1000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


async def open_test_store(kind: str, tmp_path: Path) -> DocumentStore:
    store: DocumentStore
    if kind == "sqlite":
        sqlite_store = SqliteStore(tmp_path / "contract.db")
        await sqlite_store.open()
        store = sqlite_store
    elif kind == "mongodb-real":
        from pymongo import AsyncMongoClient

        from connectnow.store.store_mongo import MongoStore

        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGODB_URL, tz_aware=True)
        store = MongoStore(client, f"cn_test_{uuid.uuid4().hex[:12]}")
    else:
        from mongomock_motor import AsyncMongoMockClient

        from tests.support.mongo_shim import MongomockStore

        store = MongomockStore(AsyncMongoMockClient(tz_aware=True), f"cn_test_{uuid.uuid4().hex[:12]}")
    await store.migrate()
    return store


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    """The storage port on each adapter: the contract suite runs every test once per adapter."""
    opened = await open_test_store(request.param, tmp_path)
    try:
        yield opened
    finally:
        if request.param == "mongodb-real":
            from connectnow.store.store_mongo import MongoStore

            assert isinstance(opened, MongoStore)
            await opened.client.drop_database(opened.database.name)
        await opened.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session; tests use unique key prefixes."""
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> str:
    return f"cntest{uuid.uuid4().hex[:10]}"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real `connectnow serve` on a free port, SQLite in a temporary folder, in-process fan-out."""
    server = LiveServer.start(tmp_path / "server")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=10.0) as client:
        yield client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a test marked `slow` run first, then those with end-to-end tests (live servers), then the
    rest, which are short. Parallel workers (scripts/test) take whole modules in this order: a long module
    taken last would run alone at the end while the other workers sit idle; short ones fill the end instead."""
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        here = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("e2e") else 2
        rank[module] = min(rank.get(module, 2), here)
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])  # stable: modules stay whole
