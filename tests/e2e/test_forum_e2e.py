"""FORUM channels end to end: titled top-level posts, discussion in threads (two clients; `live_server` and
`http` come from tests/conftest.py)."""

from __future__ import annotations

import httpx

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer


async def test_forum_posts_need_titles_and_replies_go_in_threads(
    http: httpx.AsyncClient, live_server: LiveServer
) -> None:
    ann, bob = Person(await register(http, unique_name("fa"))), Person(await register(http, unique_name("fb")))
    for p in (ann, bob):
        await p.connect(live_server)
    try:
        ws = await ann.ok("workspace:create", {"name": unique_name("forum"), "isPublic": True})
        await bob.ok("workspace:join", {"workspaceId": ws["id"]})
        forum = await ann.ok(
            "channel:create", {"workspaceId": ws["id"], "name": "ideas", "type": "FORUM", "memberIds": [bob.id]}
        )
        general = (await ann.ok("channel:list", {"workspaceId": ws["id"]}))[0]["id"]

        def send(channel_id: str, cmid: str, **extra: object) -> dict[str, object]:
            return {"channelId": channel_id, "content": "body", "clientMsgId": cmid, **extra}

        untitled = await ann.call("message:send", send(forum["id"], "f1"))
        assert untitled["error"]["code"] == "VALIDATION_FAILED"
        post = (await ann.ok("message:send", send(forum["id"], "f2", title="Dark mode")))["message"]
        assert post["title"] == "Dark mode"
        got = await bob.sock.wait_for("message:new", lambda d: d["messageId"] == post["id"])
        assert got["message"]["title"] == "Dark mode"
        reply = (await bob.ok("message:send", send(forum["id"], "f3", parentId=post["id"])))["message"]
        assert reply["parentId"] == post["id"] and reply.get("title") is None
        titled_reply = await bob.call("message:send", send(forum["id"], "f4", parentId=post["id"], title="Re"))
        assert titled_reply["error"]["code"] == "VALIDATION_FAILED"
        elsewhere = await ann.call("message:send", send(general, "f5", title="Not here"))
        assert elsewhere["error"]["code"] == "VALIDATION_FAILED"
        rest = await http.post(
            f"/api/v1/channels/{forum['id']}/messages",
            json={"content": "see title", "title": "Via REST"},
            headers=bob.auth,
        )
        assert rest.status_code == 201 and rest.json()["title"] == "Via REST"
        thread = await ann.ok("message:thread", {"messageId": post["id"]})
        assert [m["id"] for m in thread] == [reply["id"]]
        history = await ann.ok("message:history", {"channelId": forum["id"]})
        titles = [m.get("title") for m in history if m["type"] != "SYSTEM" and m.get("parentId") is None]
        assert titles == ["Dark mode", "Via REST"]
    finally:
        for p in (ann, bob):
            await p.sock.close()
