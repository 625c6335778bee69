"""Idempotency comes before rate limiting (issue 11): a replay of a stored clientMsgId answers the original
with duplicate: true and costs no token, on Socket.IO and REST, for channels and direct messages, even when
the sender's budget is spent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support.clients import Person, bearer, register, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e
# One server for the module (overrides the per-test fixture). The send budget refills one token per 100 s: at
# the default 2 per second, a round trip slower than 0.5 s on a loaded machine refilled a token between the
# refusal and the check that the budget is spent, and "one more" was stored.
live_server = shared_server("replay", rate_send_per_second="0.01")
BURST = 20  # the default CONNECTNOW_RATE_SEND_BURST


async def drain(person: Person, event: str, target: dict[str, Any]) -> list[dict[str, Any]]:
    """Spend the whole send budget; returns the stored messages. The next new send is refused."""
    stored = []
    for _ in range(BURST * 2):
        answer = await person.call(event, {**target, "content": "burst", "clientMsgId": uuid.uuid4().hex})
        if not answer["ok"]:
            assert answer["error"]["code"] == "RATE_LIMITED", answer
            break
        stored.append(answer["data"]["message"])
    assert len(stored) >= BURST
    refused = await person.call(event, {**target, "content": "one more", "clientMsgId": uuid.uuid4().hex})
    assert not refused["ok"] and refused["error"]["code"] == "RATE_LIMITED"
    return stored


async def replay_everywhere(
    person: Person, http: httpx.AsyncClient, event: str, target: dict[str, Any], path: str, stored: list[Any]
) -> None:
    """Every stored message replayed concurrently over the socket and over REST: all duplicates."""
    socket_replays = [
        person.call(event, {**target, "content": "burst", "clientMsgId": m["clientMsgId"]}) for m in stored
    ]
    rest_replays = [
        http.post(path, json={"content": "burst", "clientMsgId": m["clientMsgId"]}, headers=person.auth) for m in stored
    ]
    answers = await asyncio.gather(*socket_replays)
    assert [a["ok"] and a["data"]["duplicate"] for a in answers] == [True] * len(stored), answers
    assert [a["data"]["message"]["id"] for a in answers] == [m["id"] for m in stored]
    responses = await asyncio.gather(*rest_replays)
    assert [r.status_code for r in responses] == [200] * len(stored), [r.text for r in responses]
    assert [r.json()["id"] for r in responses] == [m["id"] for m in stored]


async def test_channel_replays_under_a_drained_rate_limit(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    alice = Person(await register(http, unique_name("rp")))
    made = await http.post("/api/v1/workspaces", json={"name": unique_name("rp"), "isPublic": True}, headers=alice.auth)
    assert made.status_code == 201, made.text
    channels = await http.get(f"/api/v1/workspaces/{made.json()['id']}/channels", headers=alice.auth)
    channel_id = channels.json()[0]["id"]
    await alice.connect(live_server)
    try:
        target = {"channelId": channel_id}
        stored = await drain(alice, "message:send", target)
        await replay_everywhere(alice, http, "message:send", target, f"/api/v1/channels/{channel_id}/messages", stored)
        history = await http.get(f"/api/v1/channels/{channel_id}/messages?limit=100", headers=alice.auth)
        mine = [m for m in history.json() if m["content"] == "burst"]
        assert sorted(m["seq"] for m in mine) == sorted(m["seq"] for m in stored)  # each stored once
    finally:
        await alice.sock.close()


async def test_direct_replays_under_a_drained_rate_limit(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    carol = Person(await register(http, unique_name("rc")))
    bob = await register(http, unique_name("rb"))
    opened = await http.post("/api/v1/direct/conversations", json={"userId": bob["user"]["id"]}, headers=carol.auth)
    assert opened.status_code == 200, opened.text
    conversation_id = opened.json()["id"]
    await carol.connect(live_server)
    try:
        target = {"conversationId": conversation_id}
        stored = await drain(carol, "dm:send", target)
        path = f"/api/v1/direct/conversations/{conversation_id}/messages"
        await replay_everywhere(carol, http, "dm:send", target, path, stored)
        history = await http.get(f"{path}?limit=100", headers=bearer(bob["accessToken"]))
        assert sorted(m["seq"] for m in history.json()) == sorted(m["seq"] for m in stored)
    finally:
        await carol.sock.close()
