"""Chat core end to end: a real server, real HTTP and three or more real Socket.IO clients per scenario."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MONGO_ID
from tests.direct.inprocess import mongo_server
from tests.support.clients import Person, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e
QUIET_SECS = 0.6  # how long a socket that must receive nothing is watched
_cmid = itertools.count(1)


# Generous send limits: these scenarios measure ordering and fan-out, not the rate limiter.
sqlite_server = shared_server("chat", rate_send_burst="500", rate_react_burst="500")


@pytest.fixture(params=["sqlite", MONGO_ID])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The same scenarios on both storage adapters: `connectnow serve` on SQLite, and the app on MongoDB."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_server")
        return
    async with mongo_server(tmp_path, rate_send_burst="500", rate_react_burst="500") as in_process:
        yield in_process


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15.0) as client:
        yield client


async def people(http: httpx.AsyncClient, server: LiveServer, n: int) -> list[Person]:
    out = [Person(await register(http, unique_name("p"))) for _ in range(n)]
    for p in out:
        await p.connect(server)
    return out


async def close_all(ps: list[Person]) -> None:
    for p in ps:
        await p.sock.close()


def send(channel_id: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"channelId": channel_id, "content": content, "clientMsgId": f"m{next(_cmid)}", **extra}


async def workspace(owner: Person, http: httpx.AsyncClient, *, public: bool = False) -> tuple[str, str]:
    created = await http.post(
        "/api/v1/workspaces", json={"name": unique_name("ws"), "isPublic": public}, headers=owner.auth
    )
    assert created.status_code == 201, created.text
    ws_id = created.json()["id"]
    channels = await http.get(f"/api/v1/workspaces/{ws_id}/channels", headers=owner.auth)
    return ws_id, channels.json()[0]["id"]


async def test_sending_a_message_seed_flow(http: httpx.AsyncClient, server: LiveServer) -> None:
    """Seed 002 "Sending a Message": authenticate, select channel (membership checked), create, broadcast."""
    alice, bob, carol = await people(http, server, 3)
    try:
        ws_id, general = await workspace(alice, http)
        invite = await http.post(f"/api/v1/workspaces/{ws_id}/invites", json={"maxUses": 5}, headers=alice.auth)
        # bob joins by code over his live socket: he is put in the rooms at once, no reconnect.
        joined = await bob.ok("workspace:joinByCode", {"code": invite.json()["code"]})
        assert joined["myRole"] == "MEMBER"
        await alice.sock.wait_for("workspaceMember:joined", lambda d: d["member"]["userId"] == bob.id)

        # carol is not a member: her send is refused and nothing is stored.
        refused = await carol.call("message:send", send(general, "let me in"))
        assert refused["error"]["code"] == "NOT_FOUND"

        data = send(general, f"hello @{bob.username}")
        sent = await alice.ok("message:send", data)
        assert not sent["duplicate"] and sent["message"]["mentions"] == [bob.id]
        got = await bob.sock.wait_for("message:new", lambda d: d["messageId"] == sent["message"]["id"])
        assert got["seq"] == sent["message"]["seq"] and got["eventSeq"] >= 1
        await bob.sock.wait_for("message:mention", lambda d: d["messageId"] == sent["message"]["id"])
        replay = await alice.ok("message:send", data)
        assert replay["duplicate"] and replay["message"]["id"] == sent["message"]["id"]

        msg_id = sent["message"]["id"]
        edited = await alice.ok("message:edit", {"messageId": msg_id, "content": "hello all", "version": 1})
        assert edited["isEdited"] and edited["version"] == 2
        stale = await alice.call("message:edit", {"messageId": msg_id, "content": "x", "version": 1})
        assert stale["error"]["code"] == "VERSION_CONFLICT" and stale["error"]["details"]["currentVersion"] == 2
        other = await bob.call("message:edit", {"messageId": msg_id, "content": "mine", "version": 2})
        assert other["error"]["code"] == "FORBIDDEN"
        await bob.sock.wait_for("message:updated", lambda d: d["messageId"] == msg_id)

        reactions = await bob.ok("reaction:add", {"messageId": msg_id, "emoji": "👍"})
        assert reactions == [{"emoji": "👍", "count": 1, "userIds": [bob.id]}]
        await alice.sock.wait_for("reaction:added", lambda d: d["messageId"] == msg_id)
        await alice.ok("message:pin", {"messageId": msg_id})
        await bob.sock.wait_for("message:pinned", lambda d: d["messageId"] == msg_id)
        reply = await bob.ok("message:send", send(general, "in thread", parentId=msg_id))
        thread = await alice.sock.wait_for("thread:updated", lambda d: d["messageId"] == msg_id)
        assert thread["replyCount"] == 1
        replies = await alice.ok("message:thread", {"messageId": msg_id})
        assert [m["id"] for m in replies] == [reply["message"]["id"]]
        deleted = await alice.ok("message:delete", {"messageId": msg_id})
        assert deleted["isDeleted"] and deleted["content"] == ""
        tomb = await bob.sock.wait_for("message:deleted", lambda d: d["messageId"] == msg_id)
        assert tomb["message"]["content"] == "" and tomb["eventSeq"] > got["eventSeq"]

        history = await bob.ok("message:history", {"channelId": general, "limit": 100})
        seqs = [m["seq"] for m in history]
        assert seqs == list(range(1, len(seqs) + 1))
        read = await bob.ok("channel:markRead", {"channelId": general, "messageId": history[-1]["id"]})
        assert read["lastReadSeq"] == seqs[-1]
        unread = await bob.ok("channel:unread", {"workspaceId": ws_id})
        assert unread[0]["unread"] == 0
        # carol, never a member, received none of it.
        await asyncio.sleep(QUIET_SECS)
        assert [
            e for e, _ in carol.sock.events if e.split(":")[0] in ("message", "reaction", "thread", "channel")
        ] == []
    finally:
        await close_all([alice, bob, carol])


async def test_concurrent_senders_and_replays_keep_seq_gap_free(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, *senders = await people(http, server, 4)
    try:
        ws_id, general = await workspace(owner, http, public=True)
        for s in senders:
            await s.ok("workspace:join", {"workspaceId": ws_id})
        payloads = [(s, send(general, f"{s.username} #{i}")) for s in senders for i in range(12)]
        calls = [p.call("message:send", data) for p, data in payloads for _ in range(3)]  # each sent 3 times
        answers = await asyncio.gather(*calls)
        assert all(a["ok"] for a in answers), [a for a in answers if not a["ok"]][:3]
        assert sum(not a["data"]["duplicate"] for a in answers) == len(payloads)
        history = await owner.ok("message:history", {"channelId": general, "limit": 100})
        texts = [m for m in history if m["type"] == "TEXT"]
        assert len(texts) == len(payloads)
        seqs = [m["seq"] for m in history]
        assert seqs == list(range(1, len(seqs) + 1))
        # Every socket in the room saw each new message exactly once.
        await asyncio.sleep(QUIET_SECS)
        seen = [d["messageId"] for d in owner.sock.received("message:new") if d["message"]["type"] == "TEXT"]
        assert sorted(seen) == sorted(m["id"] for m in texts)
    finally:
        await close_all([owner, *senders])


async def test_private_channel_fanout_and_room_moves(http: httpx.AsyncClient, server: LiveServer) -> None:
    """A socket that may not see a conversation receives none of its events; membership moves rooms at once."""
    alice, bob, carol, dan = await people(http, server, 4)
    try:
        ws_id, general = await workspace(alice, http, public=True)
        for p in (bob, carol, dan):
            await p.ok("workspace:join", {"workspaceId": ws_id})
        secret = await alice.ok(
            "channel:create", {"workspaceId": ws_id, "name": "secret", "isPrivate": True, "memberIds": [bob.id]}
        )
        sid = secret["id"]
        m1 = await bob.ok("message:send", send(sid, "for alice and bob"))
        await alice.sock.wait_for("message:new", lambda d: d["messageId"] == m1["message"]["id"])
        joined = await carol.call("channel:join", {"channelId": sid})
        assert joined["error"]["code"] == "NOT_FOUND"
        history = await carol.call("message:history", {"channelId": sid})
        assert history["error"]["code"] == "NOT_FOUND"
        # carol is added: her live socket starts receiving at once.
        await alice.ok("channel:addMember", {"channelId": sid, "userId": carol.id})
        await carol.sock.wait_for("channel:added", lambda d: d["channel"]["id"] == sid)
        m2 = await alice.ok("message:send", send(sid, "welcome carol"))
        await carol.sock.wait_for("message:new", lambda d: d["messageId"] == m2["message"]["id"])
        # carol is removed: nothing more reaches her.
        await alice.ok("channel:removeMember", {"channelId": sid, "userId": carol.id})
        await carol.sock.wait_for("channel:removed", lambda d: d["channelId"] == sid)
        m3 = await alice.ok("message:send", send(sid, "carol is gone"))
        await bob.sock.wait_for("message:new", lambda d: d["messageId"] == m3["message"]["id"])
        # A public channel made private: dan (not in it) leaves its room at once.
        open_ch = await alice.ok("channel:create", {"workspaceId": ws_id, "name": "soon-private"})
        await dan.sock.wait_for("channel:created", lambda d: d["channel"]["id"] == open_ch["id"])
        m4 = await alice.ok("message:send", send(open_ch["id"], "public for now"))
        await dan.sock.wait_for("message:new", lambda d: d["messageId"] == m4["message"]["id"])
        await alice.ok("channel:update", {"channelId": open_ch["id"], "isPrivate": True})
        await dan.sock.wait_for("channel:removed", lambda d: d["channelId"] == open_ch["id"])
        m5 = await alice.ok("message:send", send(open_ch["id"], "private now"))
        await asyncio.sleep(QUIET_SECS)
        dan_ids = {d["messageId"] for d in dan.sock.received("message:new")}
        assert m1["message"]["id"] not in dan_ids and m5["message"]["id"] not in dan_ids
        assert {m1["message"]["id"], m3["message"]["id"]}.isdisjoint(
            {d["messageId"] for d in carol.sock.received("message:new")}
        )
        # A non-member socket (a stranger) saw nothing from the workspace at all.
        stranger = (await people(http, server, 1))[0]
        await alice.ok("message:send", send(general, "hello everyone"))
        await asyncio.sleep(QUIET_SECS)
        assert stranger.sock.received("message:new") == []
        await stranger.sock.close()
    finally:
        await close_all([alice, bob, carol, dan])


async def test_ban_removes_rooms_and_reconnect_gets_none(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, mod, victim = await people(http, server, 3)
    try:
        ws_id, general = await workspace(owner, http, public=True)
        for p in (mod, victim):
            await p.ok("workspace:join", {"workspaceId": ws_id})
        await owner.ok("member:update", {"workspaceId": ws_id, "userId": mod.id, "role": "ADMIN"})
        await mod.ok("member:ban", {"workspaceId": ws_id, "userId": victim.id, "reason": "spam"})
        await victim.sock.wait_for("workspace:removed", lambda d: d["workspaceId"] == ws_id)
        again = await victim.call("workspace:join", {"workspaceId": ws_id})
        assert again["error"]["code"] == "MEMBER_BANNED"
        # Reconnecting does not bring the rooms back.
        await victim.sock.close()
        victim.sock = SocketClient()
        await victim.connect(server)
        sent = await owner.ok("message:send", send(general, "after the ban"))
        await mod.sock.wait_for("message:new", lambda d: d["messageId"] == sent["message"]["id"])
        await asyncio.sleep(QUIET_SECS)
        assert victim.sock.received("message:new") == []
        refused = await victim.call("message:history", {"channelId": general})
        assert refused["error"]["code"] == "NOT_FOUND"
    finally:
        await close_all([owner, mod, victim])


async def test_bot_rest_mirrors(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, bob, watcher = await people(http, server, 3)
    try:
        ws_id, general = await workspace(owner, http, public=True)
        for p in (bob, watcher):
            await p.ok("workspace:join", {"workspaceId": ws_id})
        key = (await http.post("/api/v1/api-keys", json={"name": "deploy-bot"}, headers=bob.auth)).json()["key"]
        bot = bearer(key)
        posted = await http.post(
            f"/api/v1/channels/{general}/messages", json={"content": "deployed", "clientMsgId": "d1"}, headers=bot
        )
        assert posted.status_code == 201, posted.text
        body = posted.json()
        assert body["isBot"] and body["via"] == "api" and body["userId"] == bob.id
        replay = await http.post(
            f"/api/v1/channels/{general}/messages", json={"content": "deployed", "clientMsgId": "d1"}, headers=bot
        )
        assert replay.status_code == 200 and replay.json()["id"] == body["id"]
        got = await watcher.sock.wait_for("message:new", lambda d: d["messageId"] == body["id"])
        assert got["message"]["isBot"]
        mid = body["id"]
        edited = await http.patch(f"/api/v1/messages/{mid}", json={"content": "deployed v2", "version": 1}, headers=bot)
        assert edited.status_code == 200 and edited.json()["version"] == 2
        stale = await http.patch(f"/api/v1/messages/{mid}", json={"content": "x", "version": 1}, headers=bot)
        assert stale.status_code == 409 and stale.json()["error"]["details"]["currentVersion"] == 2
        reacted = await http.post(f"/api/v1/messages/{mid}/reactions", json={"emoji": "🚀"}, headers=bot)
        assert reacted.json()[0]["count"] == 1
        removed = await http.delete(f"/api/v1/messages/{mid}/reactions/🚀", headers=bot)
        assert removed.json() == []
        hist = await http.get(f"/api/v1/channels/{general}/messages", params={"limit": 5}, headers=bot)
        assert hist.status_code == 200 and hist.json()[-1]["id"] == mid
        around = await http.get(f"/api/v1/channels/{general}/messages", params={"around": 1, "limit": 3}, headers=bot)
        assert around.json()[0]["seq"] == 1
        search = await http.get(f"/api/v1/workspaces/{ws_id}/search", params={"q": "deployed"}, headers=bot)
        assert [m["id"] for m in search.json()] == [mid]
        gone = await http.delete(f"/api/v1/messages/{mid}", headers=bot)
        assert gone.json()["isDeleted"]
        await watcher.sock.wait_for("message:deleted", lambda d: d["messageId"] == mid)
    finally:
        await close_all([owner, bob, watcher])


@pytest.mark.parametrize(
    "body",
    [
        {"content": {"$ne": None}},
        {"content": "x" * 4001},
        {"content": ""},
        {"content": "nul\x00"},
        {"content": "rtl\u202e"},
        {"content": 42},
        {"content": "ok", "clientMsgId": {"$ne": None}},
        {"content": "ok", "parentId": {"$ne": None}},
        {"content": "ok", "type": "SYSTEM"},
        {"content": "ok", "userId": "0" * 24},
    ],
)
async def test_rest_bad_input_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, server: LiveServer, body: dict[str, Any]
) -> None:
    owner = Person(await register(http, unique_name("p")))
    _, general = await workspace(owner, http)
    before = await http.get(f"/api/v1/channels/{general}/messages", headers=owner.auth)
    answer = await http.post(f"/api/v1/channels/{general}/messages", json=body, headers=owner.auth)
    assert answer.status_code in (413, 422), answer.text
    assert answer.json()["error"]["code"] in ("VALIDATION_FAILED", "PAYLOAD_TOO_LARGE")
    after = await http.get(f"/api/v1/channels/{general}/messages", headers=owner.auth)
    assert after.json() == before.json()
    bad_ids = await http.get("/api/v1/channels/not-an-id/messages", headers=owner.auth)
    assert bad_ids.status_code == 422


async def test_message_with_attachment_readers_only(http: httpx.AsyncClient, server: LiveServer) -> None:
    import io

    from PIL import Image

    alice, bob, carol = await people(http, server, 3)
    try:
        ws_id, general = await workspace(alice, http, public=True)
        await bob.ok("workspace:join", {"workspaceId": ws_id})
        buf = io.BytesIO()
        Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="PNG")
        files = {"file": ("red.png", buf.getvalue(), "application/octet-stream")}
        up = await http.post("/api/v1/attachments", files=files, headers=alice.auth)
        assert up.status_code == 201, up.text
        att = up.json()["id"]
        # Someone else's upload, or an unknown id, is refused before anything is stored.
        stolen = await bob.call("message:send", send(general, "mine now", attachmentIds=[att]))
        assert stolen["error"]["code"] == "NOT_FOUND"
        sent = await alice.ok("message:send", send(general, "a red square", type="IMAGE", attachmentIds=[att]))
        attached = sent["message"]["attachments"]
        assert [a["id"] for a in attached] == [att] and attached[0]["width"] == 40
        got = await bob.sock.wait_for("message:new", lambda d: d["messageId"] == sent["message"]["id"])
        assert got["message"]["attachments"][0]["id"] == att
        assert (await http.get(f"/api/v1/attachments/{att}/content", headers=bob.auth)).status_code == 200
        assert (await http.get(f"/api/v1/attachments/{att}/content", headers=carol.auth)).status_code == 404
        reused = await alice.call("message:send", send(general, "again", attachmentIds=[att]))
        assert reused["error"]["code"] == "ATTACHMENT_ALREADY_ATTACHED"
        history = await alice.ok("message:history", {"channelId": general})
        assert [m["content"] for m in history if m["type"] != "SYSTEM"] == ["a red square"]
        # Deleting the message hides its file from the channel's readers; the author (and the workspace's
        # ADMIN+) may still review it until the moderation retention ends (issue 18, test_moderation_e2e.py).
        await alice.ok("message:delete", {"messageId": sent["message"]["id"]})
        for reader, status in ((bob, 404), (carol, 404), (alice, 200)):
            got = await http.get(f"/api/v1/attachments/{att}/content", headers=reader.auth)
            assert got.status_code == status
    finally:
        await close_all([alice, bob, carol])


BAD_SOCKET_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("workspace:create", {"name": {"$ne": None}}),
    ("workspace:create", {"name": "ok", "isPublic": "true"}),
    ("workspace:get", {"workspaceId": {"$ne": None}}),
    ("workspace:joinByCode", {"code": {"$gt": ""}}),
    ("channel:create", {"workspaceId": "WS", "name": {"$ne": None}}),
    ("channel:create", {"workspaceId": "WS", "name": "bad name"}),
    ("channel:create", {"workspaceId": "WS", "name": "ok", "type": "PHONE"}),
    ("channel:create", {"workspaceId": "WS", "name": "x" * 81}),
    ("channel:update", {"channelId": "CH", "topic": "a\u202eb"}),
    ("member:update", {"workspaceId": "WS", "userId": {"$ne": None}, "role": "ADMIN"}),
    ("member:update", {"workspaceId": "WS", "userId": "0" * 24, "role": "KING"}),
    ("message:send", {"channelId": "CH", "content": "a\x00b", "clientMsgId": "z1"}),
    ("message:send", {"channelId": "CH", "content": "\ud800", "clientMsgId": "z2"}),
    ("message:send", {"channelId": "CH", "content": "x", "clientMsgId": "z3", "isBot": True}),
    ("message:history", {"channelId": "CH", "limit": 1000}),
    ("message:history", {"channelId": "CH", "before": "5"}),
    ("message:edit", {"messageId": {"$ne": None}, "content": "x", "version": 1}),
    ("message:edit", {"messageId": "0" * 24, "content": "x", "version": "1"}),
    ("reaction:add", {"messageId": "0" * 24, "emoji": {"$ne": None}}),
    ("channel:markRead", {"channelId": "CH", "messageId": ["a"]}),
]


async def test_socket_bad_input_is_refused_and_stores_nothing(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, other, third = await people(http, server, 3)
    try:
        ws_id, general = await workspace(owner, http)
        before = await owner.ok("message:history", {"channelId": general})
        channels_before = await owner.ok("channel:list", {"workspaceId": ws_id})
        for event, payload in BAD_SOCKET_CALLS:
            filled = {k: (ws_id if v == "WS" else general if v == "CH" else v) for k, v in payload.items()}
            answer = await owner.call(event, filled)
            assert not answer["ok"] and answer["error"]["code"] == "VALIDATION_FAILED", (event, payload, answer)
        for not_an_object in ("text", 5, [1, 2]):
            answer = await owner.call("message:send", not_an_object)
            assert answer["error"]["code"] == "VALIDATION_FAILED"
        assert await owner.ok("message:history", {"channelId": general}) == before
        assert await owner.ok("channel:list", {"workspaceId": ws_id}) == channels_before
        assert await owner.ok("workspace:list") and len(await owner.ok("workspace:list")) == 1
        await asyncio.sleep(QUIET_SECS)
        assert other.sock.received("message:new") == [] and third.sock.received("message:new") == []
    finally:
        await close_all([owner, other, third])


async def test_rest_mirrors_for_workspaces_and_channels(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, bob, carol = await people(http, server, 3)
    try:
        ws_id, general = await workspace(owner, http)
        api = "/api/v1"
        patched = await http.patch(f"{api}/workspaces/{ws_id}", json={"description": "ours"}, headers=owner.auth)
        assert patched.status_code == 200 and patched.json()["description"] == "ours"
        code = (await http.post(f"{api}/workspaces/{ws_id}/invites", json={"maxUses": 2}, headers=owner.auth)).json()[
            "code"
        ]
        assert (await http.post(f"{api}/workspaces/join", json={"code": code}, headers=bob.auth)).status_code == 200
        assert len((await http.get(f"{api}/workspaces/{ws_id}/invites", headers=owner.auth)).json()) == 1
        rotated = await http.post(f"{api}/workspaces/{ws_id}/invites/rotate", headers=owner.auth)
        assert rotated.status_code == 201
        assert (await http.post(f"{api}/workspaces/join", json={"code": code}, headers=carol.auth)).status_code == 404
        assert (
            await http.post(f"{api}/workspaces/join", json={"code": rotated.json()["code"]}, headers=carol.auth)
        ).status_code == 200
        members = (await http.get(f"{api}/workspaces/{ws_id}/members", headers=owner.auth)).json()
        assert {m["userId"] for m in members} == {owner.id, bob.id, carol.id}
        role = await http.patch(
            f"{api}/workspaces/{ws_id}/members/{bob.id}", json={"role": "MODERATOR"}, headers=owner.auth
        )
        assert role.json()["role"] == "MODERATOR"
        made = await http.post(
            f"{api}/workspaces/{ws_id}/channels", json={"name": "Ops", "topic": "on call"}, headers=bob.auth
        )
        assert made.status_code == 201 and made.json()["name"] == "ops"
        ops = made.json()["id"]
        dup = await http.post(f"{api}/workspaces/{ws_id}/channels", json={"name": "ops"}, headers=owner.auth)
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "CHANNEL_NAME_TAKEN"
        assert (await http.post(f"{api}/channels/{ops}/join", headers=carol.auth)).status_code == 200
        assert len((await http.get(f"{api}/channels/{ops}/members", headers=owner.auth)).json()) == 2
        assert (await http.put(f"{api}/channels/{ops}/mute", json={"isMuted": True}, headers=carol.auth)).json()[
            "isMuted"
        ]
        assert (await http.delete(f"{api}/channels/{ops}/members/{carol.id}", headers=bob.auth)).status_code == 204
        assert (await http.post(f"{api}/channels/{ops}/archive", headers=owner.auth)).json()["isArchived"]
        archived = await http.post(f"{api}/channels/{ops}/messages", json={"content": "x"}, headers=bob.auth)
        assert archived.status_code == 403 and archived.json()["error"]["code"] == "CHANNEL_ARCHIVED"
        assert not (await http.post(f"{api}/channels/{ops}/unarchive", headers=owner.auth)).json()["isArchived"]
        msg = (
            await http.post(f"{api}/channels/{general}/messages", json={"content": "pin me"}, headers=carol.auth)
        ).json()
        assert (await http.put(f"{api}/messages/{msg['id']}/pin", headers=bob.auth)).json()["isPinned"]
        assert [m["id"] for m in (await http.get(f"{api}/channels/{general}/pins", headers=owner.auth)).json()] == [
            msg["id"]
        ]
        read = await http.post(f"{api}/channels/{general}/read", json={"messageId": msg["id"]}, headers=owner.auth)
        assert read.json()["lastReadSeq"] == msg["seq"]
        receipts = (await http.get(f"{api}/messages/{msg['id']}/receipts", headers=carol.auth)).json()
        assert owner.id in [r["userId"] for r in receipts]
        unread = (await http.get(f"{api}/workspaces/{ws_id}/unread", headers=owner.auth)).json()
        assert {u["channelId"]: u["unread"] for u in unread}[general] == 0
        assert (await http.delete(f"{api}/workspaces/{ws_id}/members/{carol.id}", headers=bob.auth)).status_code == 204
        ban = await http.post(
            f"{api}/workspaces/{ws_id}/bans", json={"userId": carol.id, "reason": "spam"}, headers=owner.auth
        )
        assert ban.status_code == 201
        assert [b["userId"] for b in (await http.get(f"{api}/workspaces/{ws_id}/bans", headers=owner.auth)).json()] == [
            carol.id
        ]
        assert (await http.delete(f"{api}/workspaces/{ws_id}/bans/{carol.id}", headers=owner.auth)).status_code == 204
        moved = await http.post(f"{api}/workspaces/{ws_id}/transfer", json={"userId": bob.id}, headers=owner.auth)
        assert moved.json()["ownerId"] == bob.id and moved.json()["myRole"] == "ADMIN"
        assert (await http.post(f"{api}/workspaces/{ws_id}/leave", headers=owner.auth)).status_code == 204
        assert (await http.delete(f"{api}/workspaces/{ws_id}", headers=bob.auth)).status_code == 204
        assert (await http.get(f"{api}/workspaces/{ws_id}", headers=bob.auth)).status_code == 404
    finally:
        await close_all([owner, bob, carol])
