"""Deleting a channel end to end: refused to the wrong roles, hidden at once with an event after the writes,
then emptied (messages, replies, reactions, files) by the leased job."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer, shared_server

pytestmark = pytest.mark.e2e
_ids = itertools.count(1)


del_server = shared_server("chdel", moderation_poll_seconds="0.2")


@pytest.fixture
async def client(del_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=del_server.base_url, timeout=15.0) as c:
        yield c


def code(answer: dict[str, Any]) -> str | None:
    return None if answer["ok"] else str(answer["error"]["code"])


def stored_files(server: LiveServer) -> int:
    return sum(1 for p in (Path(server.env["CONNECTNOW_DATA_DIR"]) / "files").rglob("*") if p.is_file())


async def send(p: Person, channel_id: str, content: str, **extra: Any) -> dict[str, Any]:
    body = {"channelId": channel_id, "content": content, "clientMsgId": f"c{next(_ids)}", **extra}
    return dict((await p.ok("message:send", body))["message"])


async def test_delete_channel_hides_it_then_the_job_empties_it(
    client: httpx.AsyncClient, del_server: LiveServer
) -> None:
    owner, admin, mod, member, outsider = [Person(await register(client, unique_name("cd"))) for _ in range(5)]
    everyone = [owner, admin, mod, member, outsider]
    for p in everyone:
        await p.connect(del_server)
    try:
        ws = await owner.ok("workspace:create", {"name": unique_name("cd"), "isPublic": True})
        for p in (admin, mod, member):
            await p.ok("workspace:join", {"workspaceId": ws["id"]})
        await owner.ok("member:update", {"workspaceId": ws["id"], "userId": admin.id, "role": "ADMIN"})
        await owner.ok("member:update", {"workspaceId": ws["id"], "userId": mod.id, "role": "MODERATOR"})
        general = (await owner.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]
        doomed = await owner.ok(
            "channel:create", {"workspaceId": ws["id"], "name": "doomed", "memberIds": [member.id, mod.id]}
        )
        files_before = stored_files(del_server)
        up = await client.post("/api/v1/attachments", files={"file": ("a.txt", b"bytes")}, headers=member.auth)
        root = await send(member, doomed["id"], "root", attachmentIds=[up.json()["id"]])
        await send(owner, doomed["id"], "reply", parentId=root["id"])
        await mod.ok("reaction:add", {"messageId": root["id"], "emoji": "👍"})
        assert stored_files(del_server) > files_before

        assert code(await mod.call("channel:delete", {"channelId": doomed["id"]})) == "ROLE_TOO_LOW"
        assert code(await member.call("channel:delete", {"channelId": doomed["id"]})) == "ROLE_TOO_LOW"
        assert code(await outsider.call("channel:delete", {"channelId": doomed["id"]})) == "NOT_FOUND"
        assert code(await owner.call("channel:delete", {"channelId": general})) == "FORBIDDEN"

        gone = await client.delete(f"/api/v1/channels/{doomed['id']}", headers=admin.auth)
        assert gone.status_code == 202 and gone.json()["channelId"] == doomed["id"]
        for p in (owner, admin, mod, member):
            await p.sock.wait_for("channel:deleted", lambda d: d["channelId"] == doomed["id"])
        assert not outsider.sock.received("channel:deleted")
        # Hidden at once, for everyone.
        for p in (owner, member):
            assert code(await p.call("channel:get", {"channelId": doomed["id"]})) == "NOT_FOUND"
            assert code(await p.call("message:get", {"messageId": root["id"]})) == "NOT_FOUND"
            assert (
                code(await p.call("message:send", {"channelId": doomed["id"], "content": "x", "clientMsgId": "late"}))
                == "NOT_FOUND"
            )
        assert doomed["id"] not in {c["id"] for c in await member.ok("channel:list", {"workspaceId": ws["id"]})}

        # The job removes the files (and with them messages and reactions) in the background.
        for _ in range(300):
            if stored_files(del_server) == files_before:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the deleted channel's files were never removed")
        assert (await client.get(up.json()["fileUrl"], headers=member.auth)).status_code == 404
        # Sending again to general still works: nothing else was touched.
        await send(member, general, "still here")
    finally:
        for p in everyone:
            await p.sock.close()


async def test_delete_workspace_ends_access_then_the_job_removes_its_files(
    client: httpx.AsyncClient, del_server: LiveServer
) -> None:
    owner, member = [Person(await register(client, unique_name("wd"))) for _ in range(2)]
    for p in (owner, member):
        await p.connect(del_server)
    try:
        ws = await owner.ok("workspace:create", {"name": unique_name("wd"), "isPublic": True})
        await member.ok("workspace:join", {"workspaceId": ws["id"]})
        general = (await owner.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]
        files_before = stored_files(del_server)
        up = await client.post("/api/v1/attachments", files={"file": ("w.txt", b"bytes")}, headers=member.auth)
        sent = await send(member, general, "with a file", attachmentIds=[up.json()["id"]])
        assert stored_files(del_server) > files_before

        assert code(await member.call("workspace:delete", {"workspaceId": ws["id"]})) == "ROLE_TOO_LOW"
        await owner.ok("workspace:delete", {"workspaceId": ws["id"]})
        await member.sock.wait_for("workspace:deleted", lambda d: d["workspaceId"] == ws["id"])
        # The event comes after access ended: whoever reacts to it is refused.
        assert code(await member.call("workspace:get", {"workspaceId": ws["id"]})) == "NOT_FOUND"
        assert code(await member.call("message:get", {"messageId": sent["id"]})) == "NOT_FOUND"

        for _ in range(300):  # the workspace-deletion job removes the files (records and bytes)
            if stored_files(del_server) == files_before:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the deleted workspace's files were never removed")
        assert (await client.get(up.json()["fileUrl"], headers=member.auth)).status_code == 404
    finally:
        for p in (owner, member):
            await p.sock.close()
