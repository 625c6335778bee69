"""Channel roles end to end: promotion and demotion over REST and Socket.IO, the event, and the grant used at once.

The full role x action table is in test_chat_authz_e2e.py; this file covers the flow around it (the
`live_server` and `http` fixtures come from tests/conftest.py).
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def person(http: httpx.AsyncClient, live_server: LiveServer) -> Person:
    p = Person(await register(http, unique_name("cr")))
    await p.connect(live_server)
    return p


async def test_promote_over_rest_then_moderate_and_step_down(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    owner, mod, poster = [await person(http, live_server) for _ in range(3)]
    try:
        ws = await owner.ok("workspace:create", {"name": unique_name("roles"), "isPublic": True})
        for p in (mod, poster):
            await p.ok("workspace:join", {"workspaceId": ws["id"]})
        room = await owner.ok(
            "channel:create", {"workspaceId": ws["id"], "name": "ops", "memberIds": [mod.id, poster.id]}
        )
        url = f"/api/v1/channels/{room['id']}/members/{mod.id}"

        # A workspace MEMBER may not promote; the owner may, over REST.
        refused = await http.patch(url, json={"role": "MODERATOR"}, headers=poster.auth)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ROLE_TOO_LOW"
        bad = await http.patch(url, json={"role": "OWNER"}, headers=owner.auth)
        assert bad.json()["error"]["code"] == "VALIDATION_FAILED"
        promoted = await http.patch(url, json={"role": "MODERATOR"}, headers=owner.auth)
        assert promoted.status_code == 200 and promoted.json()["role"] == "MODERATOR"
        event = await poster.sock.wait_for("channelMember:updated", lambda d: d["userId"] == mod.id)
        assert event == {"channelId": room["id"], "userId": mod.id, "role": "MODERATOR"}
        roles = {m["userId"]: m["role"] for m in await poster.ok("channel:members", {"channelId": room["id"]})}
        assert roles == {owner.id: "ADMIN", mod.id: "MODERATOR", poster.id: "MEMBER"}

        # The grant applies to the very next request, in this channel only.
        sent = await poster.ok("message:send", {"channelId": room["id"], "content": "spam", "clientMsgId": "x1"})
        gone = await mod.ok("message:delete", {"messageId": sent["message"]["id"]})
        assert gone["isDeleted"] is True

        # Same role again: answered, nothing emitted; a user outside the channel: NOT_FOUND.
        before = len(poster.sock.received("channelMember:updated"))
        again = await owner.ok("channel:setRole", {"channelId": room["id"], "userId": mod.id, "role": "MODERATOR"})
        assert again["role"] == "MODERATOR"
        outsider = await person(http, live_server)
        await outsider.ok("workspace:join", {"workspaceId": ws["id"]})
        missing = await owner.call("channel:setRole", {"channelId": room["id"], "userId": outsider.id, "role": "ADMIN"})
        assert missing["error"]["code"] == "NOT_FOUND"
        await outsider.sock.close()

        # A channel ADMIN (workspace MEMBER) promotes, cannot demote the creator, may step down themself.
        await owner.ok("channel:setRole", {"channelId": room["id"], "userId": mod.id, "role": "ADMIN"})
        up = await mod.ok("channel:setRole", {"channelId": room["id"], "userId": poster.id, "role": "MODERATOR"})
        assert up["role"] == "MODERATOR"
        no = await mod.call("channel:setRole", {"channelId": room["id"], "userId": owner.id, "role": "MEMBER"})
        assert no["error"]["code"] == "ROLE_TOO_LOW"
        down = await mod.ok("channel:setRole", {"channelId": room["id"], "userId": mod.id, "role": "MEMBER"})
        assert down["role"] == "MEMBER"
        after = await mod.call("channel:setRole", {"channelId": room["id"], "userId": poster.id, "role": "MEMBER"})
        assert after["error"]["code"] == "ROLE_TOO_LOW"
        await poster.sock.wait_for("channelMember:updated", lambda d: d["userId"] == mod.id and d["role"] == "MEMBER")
        assert len(poster.sock.received("channelMember:updated")) == before + 3
        texts = [m["content"] for m in await poster.ok("message:history", {"channelId": room["id"]})]
        assert any("channel MODERATOR" in t for t in texts)
    finally:
        for p in (owner, mod, poster):
            await p.sock.close()
