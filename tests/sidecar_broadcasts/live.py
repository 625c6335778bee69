"""The broadcasts sidecar on a live server: the module-scoped server, sign-up and error codes over the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.clients import register, unique_name
from tests.support.live_server import server_http, shared_server

API = "/api/v1"


def broadcasts_server(name: str) -> Any:
    """A module's shared server: the scheduler polls often, webhooks may go to 127.0.0.1 and time out soon."""
    return shared_server(
        name,
        broadcast_poll_seconds="0.1",
        broadcast_webhook_allow_private="true",
        broadcast_webhook_timeout_seconds="2",
    )


def api_http() -> Any:
    """An httpx client on the shared server's API root (paths like "/contacts")."""
    return server_http(API)


async def signup(http: httpx.AsyncClient, prefix: str) -> dict[str, Any]:
    """Register a fresh user through the server `http` talks to (its API prefix dropped)."""
    async with httpx.AsyncClient(base_url=str(http.base_url).rstrip("/").removesuffix(API)) as root:
        return await register(root, unique_name(prefix))


def code(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    return str(body["error"]["code"])
