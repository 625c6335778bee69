"""Who may write to whom in direct messages, end to end: shared workspaces, blocks, and workspace bans.

The server runs with the production rule on (`dm_require_shared_workspace`, which the shared test harness
turns off for scenarios that are not about it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.direct.e2e_support import close_all, dm, people
from tests.support.clients import unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e


gated = shared_server("dmgate", dm_require_shared_workspace="true")


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


async def test_threads_reactions_and_pins_work_in_dms(client: httpx.AsyncClient, gated: LiveServer) -> None:
    ann, bob, eve = await people(client, gated, 3)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("dm"), "isPublic": True})
        for p in (bob, eve):
            await p.ok("workspace:join", {"workspaceId": ws["id"]})
        conv = await ann.ok("dm:open", {"userId": bob.id})
        root = (await ann.ok("dm:send", dm("plan?", conversationId=conv["id"])))["message"]

        # Threads: a reply bumps the root's count (one event), replies list, no reply to a reply.
        reply = (await bob.ok("dm:send", dm("yes", conversationId=conv["id"], parentId=root["id"])))["message"]
        assert reply["parentId"] == root["id"]
        bumped = await ann.sock.wait_for("dm:thread:updated", lambda d: d["messageId"] == root["id"])
        assert bumped["replyCount"] == 1 and bumped["eventSeq"] > reply["lastEventSeq"]
        nested = await ann.call("dm:send", dm("no", conversationId=conv["id"], parentId=reply["id"]))
        assert code(nested) == "VALIDATION_FAILED"
        replies = await client.get(f"/api/v1/direct/messages/{root['id']}/replies", headers=ann.auth)
        assert [m["id"] for m in replies.json()] == [reply["id"]]

        # Reactions: both members see them, adding twice is a no-op, history carries them.
        first = await bob.ok("dm:reaction:add", {"messageId": root["id"], "emoji": "👍"})
        again = await bob.ok("dm:reaction:add", {"messageId": root["id"], "emoji": "👍"})
        assert first == again == [{"emoji": "👍", "count": 1, "userIds": [bob.id]}]
        event = await ann.sock.wait_for("dm:reaction:added", lambda d: d["messageId"] == root["id"])
        assert event["userId"] == bob.id and event["reactions"][0]["count"] == 1
        rest = await client.post(
            f"/api/v1/direct/messages/{root['id']}/reactions", json={"emoji": "🎉"}, headers=ann.auth
        )
        assert rest.status_code == 200 and len(rest.json()) == 2
        page = await bob.ok("dm:history", {"conversationId": conv["id"]})
        assert {r["emoji"] for r in next(m for m in page if m["id"] == root["id"])["reactions"]} == {"👍", "🎉"}
        await bob.ok("dm:reaction:remove", {"messageId": root["id"], "emoji": "👍"})
        assert [r["emoji"] for r in await ann.ok("dm:reaction:list", {"messageId": root["id"]})] == ["🎉"]

        # Pins: either member; listed newest first; unpin over REST.
        pinned = await bob.ok("dm:pin", {"messageId": reply["id"]})
        assert pinned["isPinned"] is True and pinned["pinnedBy"] == bob.id
        await ann.sock.wait_for("dm:message:pinned", lambda d: d["messageId"] == reply["id"])
        assert [m["id"] for m in await ann.ok("dm:pins", {"conversationId": conv["id"]})] == [reply["id"]]
        unpinned = await client.delete(f"/api/v1/direct/messages/{reply['id']}/pin", headers=ann.auth)
        assert unpinned.json()["isPinned"] is False

        # Outsiders see none of it, and a block stops new reactions.
        for event_name, body in (
            ("dm:reaction:add", {"messageId": root["id"], "emoji": "👀"}),
            ("dm:pin", {"messageId": root["id"]}),
            ("dm:thread", {"messageId": root["id"]}),
            ("dm:pins", {"conversationId": conv["id"]}),
        ):
            assert code(await eve.call(event_name, body)) == "NOT_FOUND", event_name
        assert not [e for e, _ in eve.sock.events if e.startswith("dm:")]
        await ann.ok("dm:block", {"userId": bob.id})
        blocked = await bob.call("dm:reaction:add", {"messageId": root["id"], "emoji": "😡"})
        assert code(blocked) == "DM_BLOCKED"
    finally:
        await close_all(ann.sock, bob.sock, eve.sock)
