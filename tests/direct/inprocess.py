"""A real ConnectNow server (uvicorn, Socket.IO, REST) inside the test's event loop, on MongoDB.

The subprocess `live_server` runs on SQLite; this one runs the same app on the MongoDB adapter with
mongomock-motor standing in for a MongoDB server (or a real one when CONNECTNOW_TEST_MONGODB_URL is set), so
end-to-end scenarios run on both storage adapters. Clients still talk to it over real TCP sockets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from connectnow.app import create_app
from connectnow.config import Settings
from connectnow.node import Node
from connectnow.store.port import DocumentStore
from models.users import RegisterIn
from tests.conftest import MONGO_ID, open_test_store
from tests.support.clients import PASSWORD, unique_name
from tests.support.redis_server import bound_socket

START_TIMEOUT_SECS = 15.0


@dataclass
class InProcessServer:
    base_url: str
    node: Node
    store: DocumentStore

    async def create_admin(self) -> str:
        name = unique_name("admin")
        data = RegisterIn.model_validate(
            {"email": f"{name}@example.com", "username": name, "displayName": name, "password": PASSWORD}
        )
        await self.node.svc.auth.create_user(data, is_admin=True)
        return name


@asynccontextmanager
async def mongo_server(tmp_path: Path, **settings: Any) -> AsyncIterator[InProcessServer]:
    store = await open_test_store(MONGO_ID, tmp_path)

    async def open_store(_: Settings) -> DocumentStore:
        return store

    values: dict[str, Any] = {
        "env": "development",
        "data_dir": tmp_path / "data",
        "database_url": f"mongodb://127.0.0.1/cn_{uuid.uuid4().hex[:8]}",
        "log_level": "warning",
        "rate_auth_address_burst": 100_000,  # every test client signs in from 127.0.0.1
        "rate_auth_address_per_second": 1000,
        "dm_require_shared_workspace": False,  # as in LiveServer: tested where it is the subject
        **settings,
    }
    app = create_app(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    with sock, pytest.MonkeyPatch.context() as patch:
        patch.setattr("connectnow.node.open_store", open_store)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            await _wait_started(server, task)
            node: Node = app.other_asgi_app.state.node
            yield InProcessServer(base_url=f"http://127.0.0.1:{port}", node=node, store=store)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, START_TIMEOUT_SECS)


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_SECS
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the in-process server stopped during start-up")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the in-process server did not start within {START_TIMEOUT_SECS}s")
        await asyncio.sleep(0.02)
