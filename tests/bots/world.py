"""The bot tests' world: a workspace with a human, a bot user holding an API key, and an administrator."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.clients import PASSWORD, bearer, register, unique_name
from tests.support.live_server import LiveServer


@dataclass
class World:
    """alice owns a public workspace; the bot's user joined it and holds an API key; an admin exists."""

    http: httpx.AsyncClient
    alice: dict[str, Any]
    bot_user: dict[str, Any]
    api_key: str
    channel_id: str
    admin_token: str


async def make_world(server: LiveServer, http: httpx.AsyncClient) -> World:
    admin = unique_name("ops")
    server.create_admin(admin, PASSWORD)
    admin_login = await http.post("/api/v1/auth/login", json={"login": admin, "password": PASSWORD})
    alice, bot_user = await register(http), await register(http)
    ws = await http.post(
        "/api/v1/workspaces", json={"name": unique_name("bots"), "isPublic": True}, headers=bearer(alice["accessToken"])
    )
    assert ws.status_code == 201, ws.text
    joined = await http.post(f"/api/v1/workspaces/{ws.json()['id']}/join", headers=bearer(bot_user["accessToken"]))
    assert joined.status_code == 200, joined.text
    channels = await http.get(f"/api/v1/workspaces/{ws.json()['id']}/channels", headers=bearer(alice["accessToken"]))
    key = await http.post("/api/v1/api-keys", json={"name": "echo"}, headers=bearer(bot_user["accessToken"]))
    assert key.status_code == 201, key.text
    return World(http, alice, bot_user, key.json()["key"], channels.json()[0]["id"], admin_login.json()["accessToken"])


async def post(world: World, content: str) -> dict[str, Any]:
    """alice says something (waiting out her send rate limit, as a person would)."""
    body = {"content": content, "clientMsgId": uuid.uuid4().hex}
    for _ in range(50):
        sent = await world.http.post(
            f"/api/v1/channels/{world.channel_id}/messages", json=body, headers=bearer(world.alice["accessToken"])
        )
        if sent.status_code != 429:
            break
        await asyncio.sleep(sent.json()["error"]["details"]["retryAfter"])
    assert sent.status_code == 201, sent.text
    message: dict[str, Any] = sent.json()
    return message


async def replies(world: World, message_id: str) -> list[dict[str, Any]]:
    found = await world.http.get(f"/api/v1/messages/{message_id}/replies", headers=bearer(world.alice["accessToken"]))
    assert found.status_code == 200, found.text
    result: list[dict[str, Any]] = found.json()
    return result


async def wait_replies(world: World, message_id: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await replies(world, message_id)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no reply to {message_id} within {timeout}s")
