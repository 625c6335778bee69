"""A public workspace's #general as a room to fan out into, and what the live server says about it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.support.clients import Person, unique_name


async def public_general(http: httpx.AsyncClient, owner: Person, members: list[Person]) -> str:
    created = await http.post(
        "/api/v1/workspaces", json={"name": unique_name("ws"), "isPublic": True}, headers=owner.auth
    )
    assert created.status_code == 201, created.text
    ws_id = created.json()["id"]
    for member in members:
        joined = await http.post(f"/api/v1/workspaces/{ws_id}/join", headers=member.auth)
        assert joined.status_code == 200, joined.text
    channels = await http.get(f"/api/v1/workspaces/{ws_id}/channels", headers=owner.auth)
    general: str = channels.json()[0]["id"]
    return general


async def metric(http: httpx.AsyncClient, name: str) -> float:
    answer = await http.get("/metrics")
    assert answer.status_code == 200, f"/metrics refused ({answer.status_code}): allow the test's address"
    text = answer.text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def wait_count(person: Person, channel_id: str, n: int, keep: Any, timeout: float = 20.0) -> list[Any]:
    """The first `n` kept `message:new` events of a channel, in arrival order (fewer after the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = [d for d in person.sock.received("message:new") if d["channelId"] == channel_id and keep(d)]
        if len(got) >= n or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.05)
