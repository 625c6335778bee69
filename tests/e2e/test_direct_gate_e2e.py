"""Who may write to whom in direct messages, end to end: shared workspaces, blocks, and workspace bans.

The server runs with the production rule on (`dm_require_shared_workspace`, which the shared test harness
turns off for scenarios that are not about it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.direct.e2e_support import close_all, dm, people
from tests.support.clients import unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path_factory.mktemp("dmgate"), dm_require_shared_workspace="true")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def client(gated: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gated.base_url, timeout=15.0) as c:
        yield c


def code(answer: dict[str, Any]) -> str | None:
    return None if answer["ok"] else str(answer["error"]["code"])


async def test_opening_needs_a_shared_workspace(client: httpx.AsyncClient, gated: LiveServer) -> None:
    ann, bob, stranger = await people(client, gated, 3)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("dm"), "isPublic": True})
        await bob.ok("workspace:join", {"workspaceId": ws["id"]})
        assert code(await ann.call("dm:open", {"userId": stranger.id})) == "DM_NO_SHARED_WORKSPACE"
        assert code(await ann.call("dm:send", dm("hi", userId=stranger.id))) == "DM_NO_SHARED_WORKSPACE"
        rest = await client.post("/api/v1/direct/conversations", json={"userId": stranger.id}, headers=ann.auth)
        assert rest.status_code == 403 and rest.json()["error"]["code"] == "DM_NO_SHARED_WORKSPACE"
        assert await stranger.ok("dm:list", {}) == []  # nothing was stored
        opened = await ann.ok("dm:open", {"userId": bob.id})
        sent = await ann.ok("dm:send", dm("hello", conversationId=opened["id"]))
        assert sent["duplicate"] is False
    finally:
        await close_all(ann.sock, bob.sock, stranger.sock)


async def test_blocking_stops_new_messages_both_ways(client: httpx.AsyncClient, gated: LiveServer) -> None:
    ann, bob = await people(client, gated, 2)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("dm"), "isPublic": True})
        await bob.ok("workspace:join", {"workspaceId": ws["id"]})
        conv = await ann.ok("dm:open", {"userId": bob.id})
        await ann.ok("dm:send", dm("before", conversationId=conv["id"]))

        blocked = await bob.ok("dm:block", {"userId": ann.id})
        assert blocked["blockedId"] == ann.id
        again = await bob.ok("dm:block", {"userId": ann.id})  # blocking twice is a no-op
        assert again["createdAt"] == blocked["createdAt"]
        for sender in (ann, bob):
            assert code(await sender.call("dm:send", dm("x", conversationId=conv["id"]))) == "DM_BLOCKED"
        post = await client.post(
            f"/api/v1/direct/conversations/{conv['id']}/messages", json={"content": "x"}, headers=ann.auth
        )
        assert post.status_code == 403 and post.json()["error"]["code"] == "DM_BLOCKED"
        history = await ann.ok("dm:history", {"conversationId": conv["id"]})
        assert [m["content"] for m in history] == ["before"]  # the past stays readable
        listed = await client.get("/api/v1/direct/blocks", headers=bob.auth)
        assert [b["blockedId"] for b in listed.json()] == [ann.id]
        assert code(await bob.call("dm:block", {"userId": bob.id})) == "DM_SELF"
        assert code(await bob.call("dm:block", {"userId": "0" * 24})) == "NOT_FOUND"

        gone = await client.delete(f"/api/v1/direct/blocks/{ann.id}", headers=bob.auth)
        assert gone.status_code == 204
        assert await bob.ok("dm:blocks", {}) == []
        await ann.ok("dm:send", dm("after", conversationId=conv["id"]))
    finally:
        await close_all(ann.sock, bob.sock)


async def test_a_ban_stops_dms_unless_another_workspace_is_shared(client: httpx.AsyncClient, gated: LiveServer) -> None:
    ann, bob = await people(client, gated, 2)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("dm"), "isPublic": True})
        await bob.ok("workspace:join", {"workspaceId": ws["id"]})
        conv = await bob.ok("dm:open", {"userId": ann.id})
        await ann.ok("member:ban", {"workspaceId": ws["id"], "userId": bob.id})
        for sender in (ann, bob):
            got = await sender.call("dm:send", dm("x", conversationId=conv["id"]))
            assert code(got) == "DM_NO_SHARED_WORKSPACE"
        # Another workspace in common: they may talk again (the ban is about the first one only).
        other = await bob.ok("workspace:create", {"name": unique_name("dm2"), "isPublic": True})
        await ann.ok("workspace:join", {"workspaceId": other["id"]})
        await bob.ok("dm:send", dm("still friends", conversationId=conv["id"]))
    finally:
        await close_all(ann.sock, bob.sock)
