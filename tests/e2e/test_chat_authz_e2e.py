"""Authorization matrix end to end: every role (and a non-member and a banned user) x every chat action.

The expected table is written out here by hand, independently of connectnow/services/policy.py, so a change
of the policy that is not also a deliberate change of docs/ROLES.md fails this test.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MONGO_ID
from tests.direct.inprocess import mongo_server
from tests.support.clients import SocketClient, register, unique_name
from tests.support.live_server import LiveServer

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
    "create_invite": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "kick_member": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "ban_member": (OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_A_MEMBER", "MEMBER_BANNED"),
    "pin": (OK, OK, OK, OK, "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "delete_others_message": (OK, OK, OK, "ROLE_TOO_LOW", "ROLE_TOO_LOW", "NOT_FOUND", "NOT_FOUND"),
    "edit_others_message": ("FORBIDDEN",) * 5 + ("NOT_FOUND", "NOT_FOUND"),
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


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path_factory.mktemp("chat-authz"), rate_send_burst="500")
    try:
        yield live
    finally:
        live.stop()


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
        "create_invite": lambda: who.call("invite:create", {"workspaceId": world.ws_id}),
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
