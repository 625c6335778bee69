"""Direct messages, typing and attachments end to end: a real server, real HTTP, 3+ real Socket.IO clients,
on both storage adapters (fixtures in tests/direct/e2e_support.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.attachments.helpers import png_bytes
from tests.direct.e2e_support import (
    QUIET_SECS,
    SEND_BURST,
    TYPING_EXPIRY_SECS,
    Server,
    close_all,
    dm,
    http,
    people,
    second_socket,
    server,
    sqlite_server,
    workspace,
)
from tests.support.clients import PASSWORD, bearer

pytestmark = pytest.mark.e2e
__all__ = ["http", "server", "sqlite_server"]  # fixtures


async def test_direct_message_seed_flow(http: httpx.AsyncClient, server: Server) -> None:
    """Seed 002 "Direct Message Flow": find or create (a < b), create, lastMessageAt, notify, mark read."""
    alice, bob, carol = await people(http, server, 3)
    alice_laptop = await second_socket(server, alice)
    try:
        data = dm("hi bob", userId=bob.id)
        sent = await alice.ok("dm:send", data)
        message = sent["message"]
        assert not sent["duplicate"] and message["seq"] == 1 and message["recipientId"] == bob.id
        got = await bob.sock.wait_for("dm:message", lambda d: d["messageId"] == message["id"])
        assert got["message"]["content"] == "hi bob" and got["conversationId"] == message["conversationId"]
        await alice_laptop.wait_for("dm:message", lambda d: d["messageId"] == message["id"])
        badge = await bob.sock.wait_for("dm:conversation", lambda d: d["conversation"]["unread"] == 1)
        assert badge["conversation"]["otherUser"]["id"] == alice.id

        convo = await bob.ok("dm:get", {"conversationId": message["conversationId"]})
        assert convo["userAId"] < convo["userBId"] and {convo["userAId"], convo["userBId"]} == {alice.id, bob.id}
        assert convo["unread"] == 1 and convo["lastMessageAt"] == message["createdAt"]
        assert convo["otherUser"]["id"] == alice.id
        same = await bob.ok("dm:open", {"userId": alice.id})
        assert same["id"] == convo["id"]

        replay = await alice.ok("dm:send", data)
        assert replay["duplicate"] and replay["message"]["id"] == message["id"]
        reply = await bob.ok("dm:send", dm("hi alice", conversationId=convo["id"]))
        assert reply["message"]["seq"] == 2
        await alice.sock.wait_for("dm:message", lambda d: d["messageId"] == reply["message"]["id"])

        # A socket that connects later is put in the conversation's room on connect.
        bob_tablet = await second_socket(server, bob)
        later = await alice.ok("dm:send", dm("still there?", conversationId=convo["id"]))
        await bob_tablet.wait_for("dm:message", lambda d: d["messageId"] == later["message"]["id"])
        await bob_tablet.close()
        reply = await bob.ok("dm:send", dm("yes", conversationId=convo["id"]))
        assert reply["message"]["seq"] == 4

        listed = await bob.ok("dm:list", {})
        assert [c["id"] for c in listed] == [convo["id"]] and listed[0]["unread"] == 2
        read = await bob.ok("dm:markRead", {"conversationId": convo["id"]})
        assert read["unread"] == 0 and read["lastReadSeq"] == 4
        receipt = await alice.sock.wait_for("dm:read", lambda d: d["upToSeq"] == 4)
        assert receipt["readerId"] == bob.id and receipt["conversationId"] == convo["id"]
        history = await alice.ok("dm:history", {"conversationId": convo["id"]})
        assert [(m["seq"], m["isRead"]) for m in history] == [(1, True), (2, False), (3, True), (4, False)]
        assert history[0]["readAt"] is not None

        edited = await alice.ok("dm:edit", {"messageId": message["id"], "content": "hi Bob!", "version": 1})
        assert edited["isEdited"] and edited["version"] == 2
        await bob.sock.wait_for("dm:message:updated", lambda d: d["messageId"] == message["id"])
        stale = await alice.call("dm:edit", {"messageId": message["id"], "content": "x", "version": 1})
        assert stale["error"]["code"] == "VERSION_CONFLICT" and stale["error"]["details"]["currentVersion"] == 2
        not_mine = await bob.call("dm:edit", {"messageId": message["id"], "content": "x", "version": 2})
        assert not_mine["error"]["code"] == "FORBIDDEN"
        deleted = await alice.ok("dm:delete", {"messageId": message["id"]})
        assert deleted["isDeleted"] and deleted["content"] == ""
        tomb = await bob.sock.wait_for("dm:message:deleted", lambda d: d["messageId"] == message["id"])
        assert tomb["message"]["content"] == ""

        # carol is in no part of it: every event passed her by, every look is NOT_FOUND.
        for event, payload in (
            ("dm:get", {"conversationId": convo["id"]}),
            ("dm:history", {"conversationId": convo["id"]}),
            ("dm:send", dm("intrude", conversationId=convo["id"])),
            ("dm:markRead", {"conversationId": convo["id"]}),
            ("dm:delete", {"messageId": reply["message"]["id"]}),
            ("typing:start", {"conversationId": convo["id"]}),
        ):
            answer = await carol.call(event, payload)
            assert answer["error"]["code"] == "NOT_FOUND", (event, answer)
        assert await carol.ok("dm:list", {}) == []
        await asyncio.sleep(QUIET_SECS)
        assert carol.got("dm:") == [] and carol.got("typing:") == []
    finally:
        await close_all(alice.sock, bob.sock, carol.sock, alice_laptop)


async def test_typing_reaches_the_other_member_only_and_expires(http: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await people(http, server, 3)
    alice_laptop = await second_socket(server, alice)
    try:
        convo = await alice.ok("dm:open", {"userId": bob.id})
        started = await alice.ok("typing:start", {"conversationId": convo["id"]})
        assert started == {"expiresIn": TYPING_EXPIRY_SECS}
        event = await bob.sock.wait_for("typing:started")
        assert event["userId"] == alice.id and event["conversationId"] == convo["id"]
        assert event["username"] == alice.username
        await alice.ok("typing:start", {"conversationId": convo["id"]})  # throttled: no second event
        stopped = await bob.sock.wait_for("typing:stopped", timeout=TYPING_EXPIRY_SECS * 4)
        assert stopped["reason"] == "expired"
        assert len(bob.sock.received("typing:started")) == 1
        await alice.ok("typing:start", {"conversationId": convo["id"]})
        await alice.ok("typing:stop", {"conversationId": convo["id"]})
        await bob.sock.wait_for("typing:stopped", lambda d: d["reason"] == "stopped")
        await alice.ok("typing:start", {"conversationId": convo["id"]})
        await alice.ok("dm:send", dm("done typing", conversationId=convo["id"]))
        await bob.sock.wait_for("typing:stopped", lambda d: d["reason"] == "sent")
        await asyncio.sleep(QUIET_SECS)
        # Never echoed to the typist's own sockets, never seen by outsiders.
        assert alice.got("typing:") == [] and [e for e, _ in alice_laptop.events if e.startswith("typing:")] == []
        assert carol.got("typing:") == []
    finally:
        await close_all(alice.sock, bob.sock, carol.sock, alice_laptop)


async def test_channel_typing_and_channel_attachments(http: httpx.AsyncClient, server: Server) -> None:
    owner, member, outsider = await people(http, server, 3)
    owner_phone = await second_socket(server, owner)
    try:
        ws_id, general = await workspace(owner, http)
        invite = await http.post(f"/api/v1/workspaces/{ws_id}/invites", json={"maxUses": 5}, headers=owner.auth)
        await member.ok("workspace:joinByCode", {"code": invite.json()["code"]})

        refused = await outsider.call("typing:start", {"channelId": general})
        assert refused["error"]["code"] == "NOT_FOUND"
        await owner.ok("typing:start", {"channelId": general})
        event = await member.sock.wait_for("typing:started")
        assert event["channelId"] == general and event["userId"] == owner.id

        upload = await http.post(
            "/api/v1/attachments", files={"file": ("chart.png", png_bytes(120, 80), "image/png")}, headers=owner.auth
        )
        assert upload.status_code == 201, upload.text
        attachment = upload.json()
        sent = await owner.ok(
            "message:send",
            {
                "channelId": general,
                "content": "",
                "type": "IMAGE",
                "clientMsgId": "a1",
                "attachmentIds": [attachment["id"]],
            },
        )
        [embedded] = sent["message"]["attachments"]
        assert embedded["id"] == attachment["id"] and embedded["width"] == 120
        got = await member.sock.wait_for("message:new", lambda d: d["messageId"] == sent["message"]["id"])
        assert got["message"]["attachments"][0]["fileUrl"] == attachment["fileUrl"]
        ok = await http.get(attachment["fileUrl"], headers=member.auth)
        assert ok.status_code == 200 and ok.content == png_bytes(120, 80)
        for path in ("", "/content", "/thumbnail"):
            denied = await http.get(f"/api/v1/attachments/{attachment['id']}{path}", headers=outsider.auth)
            assert denied.status_code == 404
        # Reusing it in another message is refused; nothing half-sent becomes visible.
        again = await owner.call(
            "message:send",
            {"channelId": general, "content": "again", "clientMsgId": "a2", "attachmentIds": [attachment["id"]]},
        )
        assert again["error"]["code"] == "ATTACHMENT_ALREADY_ATTACHED"
        # A foreign upload cannot be attached by someone else.
        foreign = await http.post("/api/v1/attachments", files={"file": ("x.txt", b"mine")}, headers=outsider.auth)
        stolen = await owner.call(
            "message:send",
            {"channelId": general, "content": "x", "clientMsgId": "a3", "attachmentIds": [foreign.json()["id"]]},
        )
        assert stolen["error"]["code"] == "NOT_FOUND"
        # Once the message is deleted its file is served to readers no more; its author (here also the workspace
        # owner) keeps it for moderation until the retention purge (docs/PROTOCOL.md, moderation).
        await owner.ok("message:delete", {"messageId": sent["message"]["id"]})
        gone = await http.get(attachment["fileUrl"], headers=member.auth)
        assert gone.status_code == 404, gone.text
        kept = await http.get(attachment["fileUrl"], headers=owner.auth)
        assert kept.status_code == 200 and kept.content.startswith(b"\x89PNG")

        await asyncio.sleep(QUIET_SECS)
        assert [e for e, _ in owner_phone.events if e.startswith("typing:")] == []
        assert outsider.got("typing:") == [] and outsider.got("message:") == []
    finally:
        await close_all(owner.sock, member.sock, outsider.sock, owner_phone)


async def test_direct_attachments_are_for_the_pair_only(http: httpx.AsyncClient, server: Server) -> None:
    alice, bob, eve = await people(http, server, 3)
    try:
        upload = await http.post(
            "/api/v1/attachments", files={"file": ("notes.txt", b"for bob only", "text/plain")}, headers=alice.auth
        )
        attachment_id = upload.json()["id"]
        sent = await alice.ok("dm:send", dm("see file", userId=bob.id, attachmentIds=[attachment_id], type="FILE"))
        assert sent["message"]["attachments"][0]["directMessageId"] == sent["message"]["id"]
        await bob.sock.wait_for("dm:message", lambda d: d["messageId"] == sent["message"]["id"])
        download = await http.get(f"/api/v1/attachments/{attachment_id}/content", headers=bob.auth)
        assert download.status_code == 200 and download.content == b"for bob only"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert (await http.get(f"/api/v1/attachments/{attachment_id}", headers=eve.auth)).status_code == 404
    finally:
        await close_all(alice.sock, bob.sock, eve.sock)


async def test_bad_direct_input_is_refused_and_stores_nothing(http: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await people(http, server, 3)
    try:
        operator = {"$ne": None}
        bad: list[Any] = [
            None,
            "text",
            [],
            {"userId": operator, "content": "x", "clientMsgId": "b1"},
            {"conversationId": operator, "content": "x", "clientMsgId": "b1"},
            {"userId": bob.id, "content": operator, "clientMsgId": "b1"},
            {"userId": bob.id, "content": "x", "clientMsgId": operator},
            {"userId": bob.id, "content": "x", "clientMsgId": "b1", "attachmentIds": [operator]},
            {"userId": bob.id, "content": "x", "clientMsgId": "b1", "type": operator},
            {"userId": bob.id, "content": "x", "clientMsgId": "b1", "senderId": alice.id},
            {"userId": bob.id, "content": "x" * 4001, "clientMsgId": "b1"},
            {"userId": bob.id, "content": "\u202egnp.exe", "clientMsgId": "b1"},
            {"userId": bob.id, "content": "nul\x00", "clientMsgId": "b1"},
            {"userId": bob.id, "content": "", "clientMsgId": "b1"},
            {"userId": bob.id, "content": "x", "clientMsgId": "b1", "type": "SYSTEM"},
            {"userId": bob.id, "content": 42, "clientMsgId": "b1"},
        ]
        for payload in bad:
            answer = await alice.call("dm:send", payload)
            assert not answer["ok"], payload
            assert answer["error"]["code"] in ("VALIDATION_FAILED", "PAYLOAD_TOO_LARGE"), (payload, answer)
        assert (await alice.call("dm:send", dm("me", userId=alice.id)))["error"]["code"] == "DM_SELF"
        assert (await alice.call("dm:send", dm("who", userId="0" * 24)))["error"]["code"] == "NOT_FOUND"
        for event in ("dm:open", "typing:start", "typing:stop", "dm:history", "dm:markRead", "dm:edit", "dm:delete"):
            answer = await alice.call(event, {"userId": operator, "conversationId": operator, "messageId": operator})
            assert answer["error"]["code"] == "VALIDATION_FAILED", (event, answer)
        assert await alice.ok("dm:list", {}) == []
        await asyncio.sleep(QUIET_SECS)
        assert bob.got("dm:") == []

        # A banned user cannot be written to.
        admin_name = await server.create_admin()
        admin = (await http.post("/api/v1/auth/login", json={"login": admin_name, "password": PASSWORD})).json()
        ban = await http.post(f"/api/v1/admin/users/{carol.id}/ban", json={}, headers=bearer(admin["accessToken"]))
        assert ban.status_code == 200, ban.text
        answer = await alice.call("dm:send", dm("hello?", userId=carol.id))
        assert answer["error"]["code"] == "DM_RECIPIENT_UNAVAILABLE"
        assert (await alice.call("dm:open", {"userId": carol.id}))["error"]["code"] == "DM_RECIPIENT_UNAVAILABLE"
    finally:
        await close_all(alice.sock, bob.sock, carol.sock)


async def test_rest_mirrors_for_bots(http: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await people(http, server, 3)
    try:
        key = await http.post("/api/v1/api-keys", json={"name": "bot"}, headers=alice.auth)
        assert key.status_code == 201, key.text
        bot = bearer(key.json()["key"])
        opened = await http.post("/api/v1/direct/conversations", json={"userId": bob.id}, headers=bot)
        assert opened.status_code == 200, opened.text
        cid = opened.json()["id"]
        body = {"content": "from the bot", "clientMsgId": "r1"}
        posted = await http.post(f"/api/v1/direct/conversations/{cid}/messages", json=body, headers=bot)
        assert posted.status_code == 201 and posted.json()["isBot"] and posted.json()["via"] == "api"
        replay = await http.post(f"/api/v1/direct/conversations/{cid}/messages", json=body, headers=bot)
        assert replay.status_code == 200 and replay.json()["id"] == posted.json()["id"]
        await bob.sock.wait_for("dm:message", lambda d: d["messageId"] == posted.json()["id"])
        message_id = posted.json()["id"]
        patched = await http.patch(
            f"/api/v1/direct/messages/{message_id}", json={"content": "edited", "version": 1}, headers=bot
        )
        assert patched.status_code == 200 and patched.json()["version"] == 2
        listed = await http.get("/api/v1/direct/conversations", headers=bob.auth)
        assert [c["unread"] for c in listed.json()] == [1]
        last = listed.json()[-1]
        next_page = await http.get(
            "/api/v1/direct/conversations",
            params={"limit": 1, "before": last["lastMessageAt"], "beforeId": last["id"]},
            headers=bob.auth,
        )
        assert next_page.status_code == 200 and next_page.json() == []
        history = await http.get(f"/api/v1/direct/conversations/{cid}/messages?limit=10", headers=bob.auth)
        assert [m["content"] for m in history.json()] == ["edited"]
        read = await http.post(f"/api/v1/direct/conversations/{cid}/read", json={}, headers=bob.auth)
        assert read.status_code == 200 and read.json()["unread"] == 0
        gone = await http.delete(f"/api/v1/direct/messages/{message_id}", headers=bot)
        assert gone.status_code == 200 and gone.json()["isDeleted"]
        for method, path in (
            ("GET", f"/api/v1/direct/conversations/{cid}"),
            ("GET", f"/api/v1/direct/conversations/{cid}/messages"),
            ("POST", f"/api/v1/direct/conversations/{cid}/read"),
        ):
            denied = await http.request(method, path, headers=carol.auth)
            assert denied.status_code == 404, (path, denied.text)
        bad = await http.post(
            f"/api/v1/direct/conversations/{cid}/messages", json={"content": {"$ne": None}}, headers=bot
        )
        assert bad.status_code == 422
        bad = await http.post("/api/v1/direct/conversations", json={"userId": {"$ne": None}}, headers=bot)
        assert bad.status_code == 422
        assert (await http.get("/api/v1/direct/conversations/not-an-id", headers=bob.auth)).status_code == 422
    finally:
        await close_all(alice.sock, bob.sock, carol.sock)


async def test_sends_are_rate_limited_with_retry_after(http: httpx.AsyncClient, server: Server) -> None:
    alice, bob, carol = await people(http, server, 3)
    try:
        convo = await alice.ok("dm:open", {"userId": bob.id})
        answers = [await alice.call("dm:send", dm(f"m{i}", conversationId=convo["id"])) for i in range(SEND_BURST + 2)]
        refused = [a for a in answers if not a["ok"]]
        assert len(refused) == 2 and sum(a["ok"] for a in answers) == SEND_BURST
        error = refused[0]["error"]
        assert error["code"] == "RATE_LIMITED" and error["retryable"] and error["details"]["retryAfter"] > 0
        rest = await http.post(
            f"/api/v1/direct/conversations/{convo['id']}/messages", json={"content": "x"}, headers=alice.auth
        )
        assert rest.status_code == 429 and int(rest.headers["retry-after"]) >= 1
        # Other users are not affected.
        assert (await carol.call("dm:send", dm("hi", userId=bob.id)))["ok"]
    finally:
        await close_all(alice.sock, bob.sock, carol.sock)
