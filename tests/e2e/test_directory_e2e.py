"""The member directory end to end: search by username, display name or nickname, paged, members only.

Uses the `live_server` and `http` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import httpx

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer


async def test_directory_search_pages_and_authorization(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    tag = unique_name("dir")  # unique per run: usernames are global
    people = [Person(await register(http, f"{tag}{name}")) for name in ("ann", "bob", "cyd", "dee")]
    outsider, banned = Person(await register(http)), Person(await register(http))
    everyone = [*people, outsider, banned]
    for p in everyone:
        await p.connect(live_server)
    owner = people[0]
    try:
        ws = await owner.ok("workspace:create", {"name": unique_name("dir"), "isPublic": True})
        for p in [*people[1:], banned]:
            await p.ok("workspace:join", {"workspaceId": ws["id"]})
        await owner.ok("member:update", {"workspaceId": ws["id"], "userId": people[3].id, "nickname": "Zed Nick"})
        await owner.ok("member:ban", {"workspaceId": ws["id"], "userId": banned.id})

        # Paging in username order: 2 + 2, the cursor ends.
        first = await people[1].ok("member:search", {"workspaceId": ws["id"], "query": tag, "limit": 2})
        assert [m["userId"] for m in first["members"]] == [people[0].id, people[1].id]
        assert first["nextCursor"] is not None
        second = await people[1].ok(
            "member:search", {"workspaceId": ws["id"], "query": tag, "limit": 2, "after": first["nextCursor"]}
        )
        assert [m["userId"] for m in second["members"]] == [people[2].id, people[3].id]
        assert second.get("nextCursor") is None  # absent on the last page

        # Any part, any case, of the username, display name or nickname; banned users are not members.
        by_nick = await people[2].ok("member:search", {"workspaceId": ws["id"], "query": "zED nI"})
        assert [m["userId"] for m in by_nick["members"]] == [people[3].id]
        by_display = await http.get(
            f"/api/v1/workspaces/{ws['id']}/directory", params={"q": f"{tag}BO".upper()}, headers=owner.auth
        )
        assert by_display.status_code == 200
        assert [m["username"] for m in by_display.json()["members"]] == [f"{tag}bob"]
        everybody = await owner.ok("member:search", {"workspaceId": ws["id"]})
        assert banned.id not in {m["userId"] for m in everybody["members"]}

        outside = await outsider.call("member:search", {"workspaceId": ws["id"], "query": tag})
        assert outside["error"]["code"] == "NOT_A_MEMBER"
        gone = await banned.call("member:search", {"workspaceId": ws["id"], "query": tag})
        assert gone["error"]["code"] == "MEMBER_BANNED"
        bad = await owner.call("member:search", {"workspaceId": ws["id"], "limit": 0})
        assert bad["error"]["code"] == "VALIDATION_FAILED"
    finally:
        for p in everyone:
            await p.sock.close()
