"""Moderation end to end: a delete keeps the original for ADMIN+ and the author, everyone else sees the
tombstone, the purge job erases content and files after the retention, and members report messages."""

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
RETENTION_SECS = 6  # long enough to read the record on a busy machine, short enough to see the purge
_ids = itertools.count(1)


mod_server = shared_server(
    "moderation", moderation_retention_seconds=str(RETENTION_SECS), moderation_poll_seconds="0.2"
)


@pytest.fixture
async def client(mod_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mod_server.base_url, timeout=15.0) as c:
        yield c


def code(answer: dict[str, Any]) -> str | None:
    return None if answer["ok"] else str(answer["error"]["code"])


def stored_files(server: LiveServer) -> int:
    return sum(1 for p in (Path(server.env["CONNECTNOW_DATA_DIR"]) / "files").rglob("*") if p.is_file())


async def staff_world(client: httpx.AsyncClient, server: LiveServer) -> tuple[dict[str, Person], str, str]:
    cast = {
        role: Person(await register(client, unique_name("m")))
        for role in ("OWNER", "ADMIN", "MOD", "POSTER", "OTHER", "OUT")
    }
    for p in cast.values():
        await p.connect(server)
    owner = cast["OWNER"]
    ws = await owner.ok("workspace:create", {"name": unique_name("mod"), "isPublic": True})
    for role in ("ADMIN", "MOD", "POSTER", "OTHER"):
        await cast[role].ok("workspace:join", {"workspaceId": ws["id"]})
    await owner.ok("member:update", {"workspaceId": ws["id"], "userId": cast["ADMIN"].id, "role": "ADMIN"})
    await owner.ok("member:update", {"workspaceId": ws["id"], "userId": cast["MOD"].id, "role": "MODERATOR"})
    general = (await owner.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]
    return cast, ws["id"], general


async def post(p: Person, channel_id: str, content: str, attachment_ids: list[str] | None = None) -> dict[str, Any]:
    body = {
        "channelId": channel_id,
        "content": content,
        "clientMsgId": f"m{next(_ids)}",
        "attachmentIds": attachment_ids or [],
    }
    return dict((await p.ok("message:send", body))["message"])


async def test_deleted_message_is_kept_for_review_then_purged(
    client: httpx.AsyncClient, mod_server: LiveServer
) -> None:
    cast, ws_id, general = await staff_world(client, mod_server)
    poster, other = cast["POSTER"], cast["OTHER"]
    try:
        files_before = stored_files(mod_server)
        up = await client.post("/api/v1/attachments", files={"file": ("proof.txt", b"evidence")}, headers=poster.auth)
        assert up.status_code == 201, up.text
        msg = await post(poster, general, f"rude words @{other.username}", [up.json()["id"]])
        assert stored_files(mod_server) > files_before
        tomb = await cast["MOD"].ok("message:delete", {"messageId": msg["id"]})
        assert tomb["isDeleted"] is True and tomb["content"] == "" and tomb["attachments"] == []

        # Everyone reading the channel sees the tombstone only.
        seen = next(m for m in await other.ok("message:history", {"channelId": general}) if m["id"] == msg["id"])
        assert seen["content"] == "" and seen["attachments"] == [] and seen["isDeleted"] is True

        # The record: ADMIN+ and the author; moderators and members are refused, outsiders see nothing.
        expected = {
            "OWNER": None,
            "ADMIN": None,
            "POSTER": None,
            "MOD": "ROLE_TOO_LOW",
            "OTHER": "ROLE_TOO_LOW",
            "OUT": "NOT_FOUND",
        }
        for role, want in expected.items():
            answer = await cast[role].call("moderation:get", {"messageId": msg["id"]})
            assert code(answer) == want, (role, answer)
        record = (await cast["ADMIN"].call("moderation:get", {"messageId": msg["id"]}))["data"]
        assert record["content"] == msg["content"] and record["authorId"] == poster.id
        assert record["deletedBy"] == cast["MOD"].id and record["mentions"] == [other.id]
        assert [a["id"] for a in record["attachments"]] == [up.json()["id"]]
        rest = await client.get(f"/api/v1/messages/{msg['id']}/moderation", headers=cast["OWNER"].auth)
        assert rest.status_code == 200 and rest.json()["content"] == msg["content"]
        listed = await client.get(f"/api/v1/workspaces/{ws_id}/moderation", headers=cast["OWNER"].auth)
        assert [r["messageId"] for r in listed.json()] == [msg["id"]]
        assert code(await cast["MOD"].call("moderation:list", {"workspaceId": ws_id})) == "ROLE_TOO_LOW"
        # The files are kept until the purge, served only to who may review the message.
        assert stored_files(mod_server) > files_before
        content_url = up.json()["fileUrl"]
        for role, status in {"OWNER": 200, "ADMIN": 200, "POSTER": 200, "MOD": 404, "OTHER": 404, "OUT": 404}.items():
            got = await client.get(content_url, headers=cast[role].auth)
            assert got.status_code == status, (role, got.status_code)
            assert status != 200 or got.content == b"evidence"

        # After the retention, the leased purge job erases the content and the files.
        for _ in range(300):
            if code(await cast["OWNER"].call("moderation:get", {"messageId": msg["id"]})) == "NOT_FOUND":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the moderation record was never purged")
        assert stored_files(mod_server) == files_before
        assert (await client.get(content_url, headers=cast["OWNER"].auth)).status_code == 404
        assert code(await poster.call("moderation:get", {"messageId": msg["id"]})) == "NOT_FOUND"
    finally:
        for p in cast.values():
            await p.sock.close()


async def test_members_report_and_staff_resolve(client: httpx.AsyncClient, mod_server: LiveServer) -> None:
    cast, ws_id, general = await staff_world(client, mod_server)
    poster, other = cast["POSTER"], cast["OTHER"]
    try:
        msg = await post(poster, general, "spam spam")
        report = await other.ok("message:report", {"messageId": msg["id"], "reason": "spam"})
        assert report["status"] == "open" and report["reporterId"] == other.id
        for role in ("OWNER", "ADMIN", "MOD"):  # the staff hear of it at once
            await cast[role].sock.wait_for("report:created", lambda d: d["report"]["id"] == report["id"])
        again = await other.ok("message:report", {"messageId": msg["id"], "reason": "still spam"})
        assert again["id"] == report["id"] and again["reason"] == "spam"
        assert (
            code(await poster.call("message:report", {"messageId": msg["id"], "reason": "me"})) == "VALIDATION_FAILED"
        )
        assert code(await other.call("message:report", {"messageId": msg["id"], "reason": ""})) == "VALIDATION_FAILED"
        assert code(await cast["OUT"].call("message:report", {"messageId": msg["id"], "reason": "x"})) == "NOT_FOUND"

        assert code(await other.call("report:list", {"workspaceId": ws_id})) == "ROLE_TOO_LOW"
        open_reports = await cast["MOD"].ok("report:list", {"workspaceId": ws_id})
        assert [r["id"] for r in open_reports] == [report["id"]]
        resolved = await client.post(f"/api/v1/reports/{report['id']}/resolve", headers=cast["MOD"].auth)
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        await cast["OWNER"].sock.wait_for("report:resolved", lambda d: d["report"]["id"] == report["id"])
        assert await cast["MOD"].ok("report:list", {"workspaceId": ws_id}) == []
        done = await client.get(f"/api/v1/workspaces/{ws_id}/reports?status=resolved", headers=cast["ADMIN"].auth)
        assert [r["resolvedBy"] for r in done.json()] == [cast["MOD"].id]
        assert code(await other.call("report:resolve", {"reportId": report["id"]})) == "ROLE_TOO_LOW"
        assert not [e for e, _ in other.sock.events if e.startswith("report:")]
    finally:
        for p in cast.values():
            await p.sock.close()
