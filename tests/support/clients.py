"""Helpers to drive a live server as real clients do: httpx for REST, python-socketio for sockets."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import socketio

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}x{id(_counter) % 10000}"


async def register(http: httpx.AsyncClient, username: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    username = username or unique_name()
    response = await http.post(
        "/api/v1/auth/register",
        json={
            "email": f"{username}@example.com",
            "username": username,
            "displayName": username.title(),
            "password": password,
        },
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


# The first /openapi.json builds the schema of every model: seconds on a loaded machine, past httpx's 5 s default.
OPENAPI_TIMEOUT_SECS = 60.0


async def openapi_document(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=OPENAPI_TIMEOUT_SECS) as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class SocketClient:
    """A python-socketio AsyncClient that records every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.connect_error: Any = None

        @self.sio.on("*")
        async def _any(event: str, data: Any = None) -> None:
            self.events.append((event, data))

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

    async def connect(
        self,
        base_url: str,
        token: str | None,
        *,
        headers: dict[str, str] | None = None,
        transports: list[str] | None = None,
        auth: Any = None,
    ) -> None:
        await self.sio.connect(
            base_url,
            auth=auth if auth is not None else ({"token": token} if token is not None else None),
            headers=headers or {},
            transports=transports or ["websocket"],
            wait_timeout=5,
        )

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def wait_for(self, event: str, predicate: Any = None, timeout: float = 10.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for name, data in self.events:
                if name == event and (predicate is None or predicate(data)):
                    return data
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {event!r} event within {timeout}s; got {[e for e, _ in self.events]}")

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        # A refused connect leaves Engine.IO's aiohttp session open; close it so nothing leaks.
        http = getattr(self.sio.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()


class Person:
    """A registered user with one recorded socket: the actor of the end-to-end scenarios."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.token: str = data["accessToken"]
        self.id: str = data["user"]["id"]
        self.username: str = data["user"]["username"]
        self.sock = SocketClient()

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)

    async def connect(self, server: Any) -> SocketClient:
        """Connect the socket to a server (anything with a `base_url`)."""
        await self.sock.connect(server.base_url, self.token)
        return self.sock

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.sock.call(event, data)

    async def ok(self, event: str, data: Any = None) -> Any:
        answer = await self.call(event, data)
        assert answer["ok"], (event, answer)
        return answer["data"]

    def got(self, prefix: str) -> list[str]:
        """Names of the events received so far that start with `prefix`."""
        return [e for e, _ in self.sock.events if e.startswith(prefix)]


async def new_people(http: httpx.AsyncClient, count: int, prefix: str = "user") -> list[Person]:
    """`count` freshly registered users (unique names, so tests can share one server)."""
    return [Person(await register(http, unique_name(prefix))) for _ in range(count)]


@asynccontextmanager
async def online(server: Any, *persons: Person) -> AsyncIterator[None]:
    """Connect each person's socket for the block. Every socket is closed however the block ends, a failed
    connect included: a socket left open is a ResourceWarning (an error) in whichever later test collects it."""
    try:
        for person in persons:
            await person.connect(server)
        yield
    finally:
        for person in persons:
            await person.sock.close()


def admin_token(server: Any, username: str) -> str:
    """Create a server administrator with the `connectnow` command of a live server and sign in as them."""
    done = server.cli(
        "create-admin", "--email", f"{username}@example.com", "--username", username, "--password-stdin", stdin=PASSWORD
    )
    assert done.returncode == 0, done.stderr
    answer = httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"login": username, "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["accessToken"]
    return token
