"""Authorization matrix end to end: every role (and a non-member and a banned user) x every chat action,
and every channel role (held by workspace GUESTs, so only the channel role can grant) x every channel action.

The expected table is written out here by hand, independently of connectnow/services/policy.py, so a change
of the policy that is not also a deliberate change of docs/ROLES.md fails this test.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MONGO_ID
from tests.direct.inprocess import mongo_server
from tests.support.clients import SocketClient, register, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e
ROLES = ("OWNER", "ADMIN", "MODERATOR", "MEMBER", "GUEST", "NONMEMBER", "BANNED")
OK = "ok"
_ids = itertools.count(1)

# action -> expected answer per role, in ROLES order
MATRIX: dict[str, tuple[str, ...]] = {
    "read_history": (OK, OK, OK, OK, OK, "NOT_FOUND", "NOT_FOUND"),
    "send": (OK, OK, OK, OK, OK, "NOT_FOUND", "NOT_FOUND"),
    "react": (OK, OK, OK, OK, OK, "NOT_FOUND", "NOT_FOUND"),
    "read_unjoined_public": (OK, OK, OK, OK, "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"),
    "join_public_channel": (OK, OK, OK, OK, "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"),
    "join_private_channel": ("NOT_FOUND",) * 7,
    "create_channel": (OK, OK, OK, OK, "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "set_topic": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "archive_channel": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"),
    "delete_channel": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"),
    "create_invite": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "kick_member": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "ban_member": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "pin": (OK, OK, OK, OK, "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "delete_others_message": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "edit_others_message": ("FORBIDDEN",) * 5 + ("NOT_FOUND", "NOT_FOUND"),
    # The OWNER is also #general's channel ADMIN (its creator); the ADMIN acts by workspace role alone.
    "set_channel_role": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "mention_channel": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    # someone else's deleted message: the original is for ADMIN+ (and its author, tested elsewhere)
    "read_moderation_record": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "report_message": (OK, OK, OK, OK, OK, "NOT_FOUND", "NOT_FOUND"),
    "list_reports": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "update_workspace": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "delete_workspace": (
        "ok-owner",
        "ROLE_TOO_LOW",
        "ROLE_TOO_LOW",
        "ROLE_TOO_LOW",
        "ROLE_TOO_LOW",
        "NOT_A_MEMBER",
        "MEMBER_BANNED",
    ),
}


sqlite_server = shared_server("chat-authz", rate_send_burst="500")


@pytest.fixture(params=["sqlite", MONGO_ID])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The same scenarios on both storage adapters: `connectnow serve` on SQLite, and the app on MongoDB."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_server")
        return
    async with mongo_server(tmp_path, rate_send_burst="500") as in_process:
        yield in_process


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15.0) as client:
        yield client


class Actor:
    def __init__(self, data: dict[str, Any]) -> None:
        self.id: str = data["user"]["id"]
        self.token: str = data["accessToken"]
        self.sock = SocketClient()

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await self.sock.call(event, data)
        return answer

    async def ok(self, event: str, data: Any) -> Any:
        answer = await self.call(event, data)
        assert answer["ok"], (event, answer)
        return answer["data"]


async def actor(http: httpx.AsyncClient, server: LiveServer) -> Actor:
    a = Actor(await register(http, unique_name("z")))
    await a.sock.connect(server.base_url, a.token)
    return a


class World:
    """One public workspace with an actor per role, a poster, and helpers that make fresh targets."""

    def __init__(self, owner: Actor, poster: Actor, ws_id: str, general: str, secret: str) -> None:
        self.owner, self.poster, self.ws_id, self.general, self.secret = owner, poster, ws_id, general, secret
        self.http: httpx.AsyncClient | None = None
        self.server: LiveServer | None = None

    async def message(self) -> str:
        body = {"channelId": self.general, "content": "target", "clientMsgId": f"t{next(_ids)}"}
        return str((await self.poster.ok("message:send", body))["message"]["id"])

    async def deleted_message(self) -> str:
        message_id = await self.message()
        await self.owner.ok("message:delete", {"messageId": message_id})
        return message_id

    async def channel(self) -> str:
        made = await self.owner.ok("channel:create", {"workspaceId": self.ws_id, "name": f"c{next(_ids)}"})
        return str(made["id"])

    async def member(self) -> str:
        assert self.http is not None and self.server is not None
        victim = await actor(self.http, self.server)
        await victim.ok("workspace:join", {"workspaceId": self.ws_id})
        await victim.sock.close()
        return victim.id


async def attempt(action: str, who: Actor, world: World) -> dict[str, Any]:
    calls: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "read_history": lambda: who.call("message:history", {"channelId": world.general}),
        "send": lambda: who.call(
            "message:send", {"channelId": world.general, "content": "hi", "clientMsgId": f"s{next(_ids)}"}
        ),
        "react": _then(world.message, lambda m: who.call("reaction:add", {"messageId": m, "emoji": "👍"})),
        "read_unjoined_public": _then(world.channel, lambda c: who.call("message:history", {"channelId": c})),
        "join_public_channel": _then(world.channel, lambda c: who.call("channel:join", {"channelId": c})),
        "join_private_channel": lambda: who.call("channel:join", {"channelId": world.secret}),
        "create_channel": lambda: who.call("channel:create", {"workspaceId": world.ws_id, "name": f"n{next(_ids)}"}),
        "set_topic": lambda: who.call("channel:update", {"channelId": world.general, "topic": f"t{next(_ids)}"}),
        "archive_channel": _then(world.channel, lambda c: who.call("channel:archive", {"channelId": c})),
        "delete_channel": _then(world.channel, lambda c: who.call("channel:delete", {"channelId": c})),
        "create_invite": lambda: who.call("invite:create", {"workspaceId": world.ws_id}),
        "set_channel_role": _then(
            world.member,
            lambda u: who.call("channel:setRole", {"channelId": world.general, "userId": u, "role": "MODERATOR"}),
        ),
        "read_moderation_record": _then(world.deleted_message, lambda m: who.call("moderation:get", {"messageId": m})),
        "report_message": _then(
            world.message, lambda m: who.call("message:report", {"messageId": m, "reason": "spam"})
        ),
        "list_reports": lambda: who.call("report:list", {"workspaceId": world.ws_id}),
        "mention_channel": lambda: who.call(
            "message:send", {"channelId": world.general, "content": "@channel hi", "clientMsgId": f"b{next(_ids)}"}
        ),
        "kick_member": _then(
            world.member, lambda u: who.call("member:kick", {"workspaceId": world.ws_id, "userId": u})
        ),
        "ban_member": _then(world.member, lambda u: who.call("member:ban", {"workspaceId": world.ws_id, "userId": u})),
        "pin": _then(world.message, lambda m: who.call("message:pin", {"messageId": m})),
        "delete_others_message": _then(world.message, lambda m: who.call("message:delete", {"messageId": m})),
        "edit_others_message": _then(
            world.message, lambda m: who.call("message:edit", {"messageId": m, "content": "x", "version": 1})
        ),
        "update_workspace": lambda: who.call("workspace:update", {"workspaceId": world.ws_id, "description": "d"}),
        # Only the owner may delete: everyone else is refused here; the owner deletes it at the very end.
        "delete_workspace": lambda: who.call("workspace:delete", {"workspaceId": world.ws_id}),
    }
    return await calls[action]()


def _then(
    make: Callable[[], Awaitable[str]], act: Callable[[str], Awaitable[dict[str, Any]]]
) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def run() -> dict[str, Any]:
        return await act(await make())

    return run


async def test_authorization_matrix(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, poster = await actor(http, server), await actor(http, server)
    ws = await owner.ok("workspace:create", {"name": unique_name("authz"), "isPublic": True})
    general = (await owner.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]
    await poster.ok("workspace:join", {"workspaceId": ws["id"]})
    secret_ch = await poster.ok("channel:create", {"workspaceId": ws["id"], "name": "secret", "isPrivate": True})
    world = World(owner, poster, ws["id"], general, secret_ch["id"])
    world.http, world.server = http, server
    actors: dict[str, Actor] = {"OWNER": owner}
    for role in ROLES[1:]:
        a = await actor(http, server)
        actors[role] = a
        if role == "NONMEMBER":
            continue
        await a.ok("workspace:join", {"workspaceId": ws["id"]})
        if role in ("ADMIN", "MODERATOR", "GUEST"):
            await owner.ok("member:update", {"workspaceId": ws["id"], "userId": a.id, "role": role})
        if role == "BANNED":
            await owner.ok("member:ban", {"workspaceId": ws["id"], "userId": a.id})
    failures: list[str] = []
    try:
        for action, expected in MATRIX.items():
            for role, want in zip(ROLES, expected, strict=True):
                if action == "delete_workspace" and want.startswith("ok"):
                    continue  # checked last, it ends the workspace
                answer = await attempt(action, actors[role], world)
                got = OK if answer["ok"] else answer["error"]["code"]
                if got != want:
                    failures.append(f"{role} {action}: expected {want}, got {got}")
        assert failures == [], "\n".join(failures)
        await owner.ok("workspace:delete", {"workspaceId": ws["id"]})
    finally:
        for a in [*actors.values(), poster]:
            await a.sock.close()


CHANNEL_ROLES = ("ADMIN", "MODERATOR", "MEMBER")
TOO_LOW = "ROLE_TOO_LOW"
# channel action -> expected answer per channel role (each actor is a workspace GUEST, so their workspace
# role grants none of these; the last two rows show the grant stays inside its own channel)
CHANNEL_MATRIX: dict[str, tuple[str, ...]] = {
    "set_topic": (OK, OK, TOO_LOW),
    "remove_member": (OK, OK, TOO_LOW),
    "pin": (OK, OK, TOO_LOW),
    "delete_others_message": (OK, OK, TOO_LOW),
    "mention_here": (OK, OK, TOO_LOW),
    "promote_member": (OK, TOO_LOW, TOO_LOW),
    "demote_channel_admin": (TOO_LOW, TOO_LOW, TOO_LOW),
    "archive_channel": (TOO_LOW, TOO_LOW, TOO_LOW),
    "delete_channel": (TOO_LOW, TOO_LOW, TOO_LOW),
    "pin_in_other_channel": (TOO_LOW, TOO_LOW, TOO_LOW),
    "delete_in_other_channel": (TOO_LOW, TOO_LOW, TOO_LOW),
}


class Room:
    """A public channel made by the owner, with the poster and the channel-role actors in it."""

    def __init__(self, world: World, channel_id: str) -> None:
        self.world, self.id = world, channel_id

    async def message(self, channel_id: str | None = None) -> str:
        body = {"channelId": channel_id or self.id, "content": "target", "clientMsgId": f"r{next(_ids)}"}
        return str((await self.world.poster.ok("message:send", body))["message"]["id"])

    async def member(self, role: str = "MEMBER") -> str:
        uid = await self.world.member()
        await self.world.owner.ok("channel:addMember", {"channelId": self.id, "userId": uid})
        if role != "MEMBER":
            await self.world.owner.ok("channel:setRole", {"channelId": self.id, "userId": uid, "role": role})
        return uid


async def attempt_in_channel(action: str, who: Actor, room: Room) -> dict[str, Any]:
    general = room.world.general

    def set_role(role: str) -> Callable[[str], Awaitable[dict[str, Any]]]:
        return lambda u: who.call("channel:setRole", {"channelId": room.id, "userId": u, "role": role})

    calls: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "set_topic": lambda: who.call("channel:update", {"channelId": room.id, "topic": f"t{next(_ids)}"}),
        "remove_member": _then(
            room.member, lambda u: who.call("channel:removeMember", {"channelId": room.id, "userId": u})
        ),
        "pin": _then(room.message, lambda m: who.call("message:pin", {"messageId": m})),
        "delete_others_message": _then(room.message, lambda m: who.call("message:delete", {"messageId": m})),
        "mention_here": lambda: who.call(
            "message:send", {"channelId": room.id, "content": "@here hi", "clientMsgId": f"h{next(_ids)}"}
        ),
        "promote_member": _then(room.member, set_role("MODERATOR")),
        "demote_channel_admin": _then(lambda: room.member("ADMIN"), set_role("MEMBER")),
        "archive_channel": lambda: who.call("channel:archive", {"channelId": room.id}),
        "delete_channel": lambda: who.call("channel:delete", {"channelId": room.id}),
        "pin_in_other_channel": _then(
            lambda: room.message(general), lambda m: who.call("message:pin", {"messageId": m})
        ),
        "delete_in_other_channel": _then(
            lambda: room.message(general), lambda m: who.call("message:delete", {"messageId": m})
        ),
    }
    return await calls[action]()


async def test_channel_role_matrix(http: httpx.AsyncClient, server: LiveServer) -> None:
    owner, poster = await actor(http, server), await actor(http, server)
    ws = await owner.ok("workspace:create", {"name": unique_name("chroles"), "isPublic": True})
    general = (await owner.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]
    await poster.ok("workspace:join", {"workspaceId": ws["id"]})
    world = World(owner, poster, ws["id"], general, "")
    world.http, world.server = http, server
    made = await owner.ok("channel:create", {"workspaceId": ws["id"], "name": "room", "memberIds": [poster.id]})
    room = Room(world, made["id"])
    actors: dict[str, Actor] = {}
    for role in CHANNEL_ROLES:
        a = actors[role] = await actor(http, server)
        await a.ok("workspace:join", {"workspaceId": ws["id"]})
        await owner.ok("member:update", {"workspaceId": ws["id"], "userId": a.id, "role": "GUEST"})
        await owner.ok("channel:addMember", {"channelId": room.id, "userId": a.id})
        if role != "MEMBER":
            # Used at once: the role change flushes the access cache, so no stale MEMBER role is seen.
            got = await owner.ok("channel:setRole", {"channelId": room.id, "userId": a.id, "role": role})
            assert got["role"] == role
    failures: list[str] = []
    try:
        for action, expected in CHANNEL_MATRIX.items():
            for role, want in zip(CHANNEL_ROLES, expected, strict=True):
                answer = await attempt_in_channel(action, actors[role], room)
                got = OK if answer["ok"] else answer["error"]["code"]
                if got != want:
                    failures.append(f"channel {role} {action}: expected {want}, got {got}")
        assert failures == [], "\n".join(failures)
    finally:
        for a in [*actors.values(), owner, poster]:
            await a.sock.close()
