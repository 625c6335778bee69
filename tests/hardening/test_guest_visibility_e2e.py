"""Issue 14: a GUEST's sockets hear nothing of the channels they may not see (ROLES.md: guests see only the
channels they were added to), and `channel:join` answers them what PROTOCOL.md says (NOT_FOUND)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.clients import Person, new_people, online, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e
server = shared_server("guests")


@pytest.fixture
async def people(server: LiveServer) -> AsyncIterator[list[Person]]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        crowd = await new_people(http, 3)
    async with online(server, *crowd):
        yield crowd


def mentions(events: list[tuple[str, Any]], channel_id: str) -> list[str]:
    return [name for name, data in events if channel_id in repr(data)]


async def test_a_guest_hears_nothing_of_channels_hidden_from_them(people: list[Person]) -> None:
    owner, member, guest = people
    ws = await owner.ok("workspace:create", {"name": unique_name("Guests"), "isPublic": True})
    for person in (member, guest):
        await person.ok("workspace:join", {"workspaceId": ws["id"]})
    await owner.ok("member:update", {"workspaceId": ws["id"], "userId": guest.id, "role": "GUEST"})

    hidden = await owner.ok("channel:create", {"workspaceId": ws["id"], "name": "news"})
    await owner.ok("channel:update", {"channelId": hidden["id"], "topic": "launch day"})
    # A channel the guest is added to: its events reach the guest, and arrive after the hidden channel's ones
    # (one broker, in order), so waiting for them proves the guest's socket was listening all along.
    shared = await owner.ok("channel:create", {"workspaceId": ws["id"], "name": "shared", "memberIds": [guest.id]})
    await guest.sock.wait_for("channel:created", lambda d: d["channel"]["id"] == shared["id"])
    await member.sock.wait_for("channel:created", lambda d: d["channel"]["id"] == hidden["id"])
    await member.sock.wait_for("channel:updated", lambda d: d["channel"].get("topic") == "launch day")

    assert mentions(guest.sock.events, hidden["id"]) == []
    refused = await guest.call("channel:join", {"channelId": hidden["id"]})
    assert refused["ok"] is False and refused["error"]["code"] == "NOT_FOUND", refused
    assert (await guest.call("channel:get", {"channelId": hidden["id"]}))["error"]["code"] == "NOT_FOUND"
    assert mentions(guest.sock.events, hidden["id"]) == []
