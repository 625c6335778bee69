"""Notification preferences end to end: mute, notify levels, badges, @here / @channel, and BUSY.

One real server (the `live_server` and `http` fixtures of tests/conftest.py) and five real Socket.IO clients.
A socket that must NOT get a mention is checked after it received a later message of the same channel: the
server emits a message's mentions before the next message, on one socket in order, so no sleep is needed.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer

_ids = itertools.count(1)


async def person(http: httpx.AsyncClient, server: LiveServer) -> Person:
    p = Person(await register(http, unique_name("nt")))
    await p.connect(server)
    return p


async def send(p: Person, channel_id: str, content: str) -> dict[str, Any]:
    body = {"channelId": channel_id, "content": content, "clientMsgId": f"n{next(_ids)}"}
    return dict((await p.ok("message:send", body))["message"])


def mentioned(p: Person, message_id: str) -> bool:
    return any(d["messageId"] == message_id for d in p.sock.received("message:mention"))


async def settle(everyone: list[Person], sender: Person, channel_id: str) -> None:
    """Send a plain message and wait until every socket has it: earlier mentions have arrived by then."""
    marker = await send(sender, channel_id, "marker")
    for p in everyone:
        await p.sock.wait_for("message:new", lambda d, m=marker["id"]: d["messageId"] == m)


async def wait_status(viewer: Person, user_id: str, status: str) -> None:
    for _ in range(200):
        states = await viewer.ok("presence:query", {"userIds": [user_id]})
        if states and states[0]["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{user_id} never became {status}")


async def test_mutes_levels_busy_and_broad_mentions(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    owner, alice, muted, quiet, busy, away = [await person(http, live_server) for _ in range(6)]
    everyone = [owner, alice, muted, quiet, busy, away]
    try:
        ws = await owner.ok("workspace:create", {"name": unique_name("notify"), "isPublic": True})
        for p in everyone[1:]:
            await p.ok("workspace:join", {"workspaceId": ws["id"]})
        general = (await owner.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]

        # Preferences: socket and REST; the caller's other devices hear of it.
        got = await muted.ok("channel:mute", {"channelId": general, "isMuted": True})
        assert got["isMuted"] is True and got["notify"] == "ALL"
        rest = await http.patch(
            f"/api/v1/channels/{general}/preferences", json={"notify": "NOTHING"}, headers=quiet.auth
        )
        assert rest.status_code == 200 and rest.json()["notify"] == "NOTHING"
        await quiet.sock.wait_for("channelMember:preferences", lambda d: d["notify"] == "NOTHING")
        bad = await alice.call("channel:preferences", {"channelId": general, "notify": "SOMETIMES"})
        assert bad["error"]["code"] == "VALIDATION_FAILED"
        await busy.ok("presence:set", {"status": "BUSY"})
        await away.ok("presence:set", {"status": "AWAY"})
        for p, status in ((alice, "ONLINE"), (busy, "BUSY"), (away, "AWAY")):
            await wait_status(owner, p.id, status)

        # A plain member may not use @channel: refused, nothing stored.
        before = len(await owner.ok("message:history", {"channelId": general}))
        refused = await alice.call(
            "message:send", {"channelId": general, "content": "@channel lunch?", "clientMsgId": "x-refused"}
        )
        assert refused["error"]["code"] == "ROLE_TOO_LOW"
        assert len(await owner.ok("message:history", {"channelId": general})) == before

        # @channel by the owner: everyone but the muted, the NOTHING and the BUSY member (and the sender).
        loud = await send(owner, general, "@channel deploy at 5")
        assert loud["broadcast"] == "channel" and loud["mentions"] == []
        # @here: only who is ONLINE now (AWAY is left out too).
        here = await send(owner, general, "@here standup")
        # A direct mention breaks through a mute and BUSY, not through NOTHING.
        direct = await send(owner, general, f"ping @{muted.username} @{quiet.username} @{busy.username}")
        await settle(everyone, owner, general)
        assert [p is alice or p is away for p in everyone] == [mentioned(p, loud["id"]) for p in everyone]
        assert [p is alice for p in everyone] == [mentioned(p, here["id"]) for p in everyone]
        assert [p in (muted, busy) for p in everyone] == [mentioned(p, direct["id"]) for p in everyone]

        # Badges: a muted channel shows unread mentions only, NOTHING shows none, the default every message.
        def badge_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
            return next(r for r in rows if r["channelId"] == general)

        for p, want in ((muted, 1), (quiet, 0)):
            row = badge_of(await p.ok("channel:unread", {"workspaceId": ws["id"]}))
            assert row["badge"] == want and row["unread"] >= 4, row
        row = badge_of(await alice.ok("channel:unread", {"workspaceId": ws["id"]}))
        assert row["badge"] == row["unread"] >= 4 and row["isMuted"] is False and row["notify"] == "ALL"

        # The workspace setting opens @here to every member; unmuting brings the muted member back.
        await owner.ok("workspace:update", {"workspaceId": ws["id"], "allowBroadMentions": True})
        await muted.ok("channel:preferences", {"channelId": general, "isMuted": False})
        open_here = await send(alice, general, "@here cake in the kitchen")
        await settle(everyone, owner, general)
        assert mentioned(owner, open_here["id"]) and mentioned(muted, open_here["id"])
        assert not mentioned(alice, open_here["id"]) and not mentioned(busy, open_here["id"])
    finally:
        for p in everyone:
            await p.sock.close()
