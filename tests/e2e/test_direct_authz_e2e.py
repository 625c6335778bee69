"""Authorization matrices end to end: who may type in, and download files of, which channel (both adapters)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.direct.e2e_support import QUIET_SECS, Server, close_all, http, people, server, sqlite_server, workspace

pytestmark = pytest.mark.e2e
__all__ = ["http", "server", "sqlite_server"]  # fixtures


async def test_channel_typing_authorization_matrix(http: httpx.AsyncClient, server: Server) -> None:
    """Who may type where: exactly who may post there (role x channel kind, non-member, banned, archived)."""
    owner, member, guest, outsider, banned = await people(http, server, 5)
    everyone = [owner, member, guest, outsider, banned]
    try:
        ws_id, general = await workspace(owner, http)
        invite = await http.post(f"/api/v1/workspaces/{ws_id}/invites", json={"maxUses": 5}, headers=owner.auth)
        for p in (member, guest, banned):
            await p.ok("workspace:joinByCode", {"code": invite.json()["code"]})
        await owner.ok("member:update", {"workspaceId": ws_id, "userId": guest.id, "role": "GUEST"})
        secret = await owner.ok(
            "channel:create", {"workspaceId": ws_id, "name": "secret", "isPrivate": True, "memberIds": [member.id]}
        )
        random = await owner.ok("channel:create", {"workspaceId": ws_id, "name": "random"})
        old = await owner.ok("channel:create", {"workspaceId": ws_id, "name": "old"})
        await member.ok("channel:join", {"channelId": old["id"]})
        await owner.ok("channel:archive", {"channelId": old["id"]})
        await owner.ok("member:ban", {"workspaceId": ws_id, "userId": banned.id})

        ok = None
        expected = {
            general: [ok, ok, ok, "NOT_FOUND", "NOT_FOUND"],
            secret["id"]: [ok, ok, "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"],
            # owner created it (a member); member can read it but never joined; guests see only their channels
            random["id"]: [ok, "NOT_A_MEMBER", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"],
            old["id"]: ["CHANNEL_ARCHIVED", "CHANNEL_ARCHIVED", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"],
        }
        for channel_id, codes in expected.items():
            for who, code in zip(everyone, codes, strict=True):
                answer = await who.call("typing:start", {"channelId": channel_id})
                got = None if answer["ok"] else answer["error"]["code"]
                assert got == code, (channel_id, who.username, answer)
                await who.call("typing:stop", {"channelId": channel_id})
        await asyncio.sleep(QUIET_SECS)
        for p in (outsider, banned):
            assert p.got("typing:") == []
        # The guest is not in #secret: none of its typing reached them.
        assert all(d.get("channelId") != secret["id"] for e, d in guest.sock.events if e.startswith("typing:"))
    finally:
        await close_all(*(p.sock for p in everyone))


async def test_attachment_download_authorization_matrix(http: httpx.AsyncClient, server: Server) -> None:
    """Downloads follow read access: uploader, members, guests, non-members and banned users."""
    owner, member, guest, outsider, banned = await people(http, server, 5)
    everyone = [owner, member, guest, outsider, banned]
    try:
        ws_id, general = await workspace(owner, http)
        invite = await http.post(f"/api/v1/workspaces/{ws_id}/invites", json={"maxUses": 5}, headers=owner.auth)
        for p in (member, guest, banned):
            await p.ok("workspace:joinByCode", {"code": invite.json()["code"]})
        await owner.ok("member:update", {"workspaceId": ws_id, "userId": guest.id, "role": "GUEST"})
        secret = await owner.ok(
            "channel:create", {"workspaceId": ws_id, "name": "secret", "isPrivate": True, "memberIds": [member.id]}
        )

        async def post_file(channel_id: str, name: str) -> str:
            up = await http.post("/api/v1/attachments", files={"file": (name, name.encode())}, headers=owner.auth)
            assert up.status_code == 201, up.text
            payload = {
                "channelId": channel_id,
                "content": name,
                "clientMsgId": name,
                "attachmentIds": [up.json()["id"]],
            }
            await owner.ok("message:send", payload)
            return str(up.json()["fileUrl"])

        public_url = await post_file(general, "public.txt")
        secret_url = await post_file(secret["id"], "secret.txt")
        await owner.ok("member:ban", {"workspaceId": ws_id, "userId": banned.id})
        expected = {public_url: [200, 200, 200, 404, 404], secret_url: [200, 200, 404, 404, 404]}
        for url, statuses in expected.items():
            for who, status in zip(everyone, statuses, strict=True):
                answer = await http.get(url, headers=who.auth)
                assert answer.status_code == status, (url, who.username, answer.text)
    finally:
        await close_all(*(p.sock for p in everyone))
