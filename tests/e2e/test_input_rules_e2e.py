"""Issue 14: inputs that used to be accepted and should not be, checked through the real server (REST and
Socket.IO): a Buffer as message content, path-like or percent-escaped reaction emoji, odd time zones."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def test_buffers_bad_emoji_and_odd_zones_are_refused(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    alice = Person(await register(http, unique_name("in")))
    await alice.connect(live_server)
    try:
        created = await http.post("/api/v1/workspaces", json={"name": unique_name("ws")}, headers=alice.auth)
        ws_id = created.json()["id"]
        general = (await http.get(f"/api/v1/workspaces/{ws_id}/channels", headers=alice.auth)).json()[0]["id"]

        # A JS Buffer arrives as bytes: refused, nothing stored.
        binary = await alice.call("message:send", {"channelId": general, "content": b"hello", "clientMsgId": "b1"})
        assert binary["ok"] is False and binary["error"]["code"] == "VALIDATION_FAILED", binary
        history = await http.get(f"/api/v1/channels/{general}/messages", headers=alice.auth)
        assert history.status_code == 200 and "hello" not in history.text

        sent = await alice.ok("message:send", {"channelId": general, "content": "hi", "clientMsgId": "t1"})
        msg_id = sent["message"]["id"]
        for bad in ("../../x", "%00", "a", "<b>", ":Bad Code:", "👍👍"):
            answer = await alice.call("reaction:add", {"messageId": msg_id, "emoji": bad})
            assert answer["ok"] is False and answer["error"]["code"] == "VALIDATION_FAILED", (bad, answer)
        for good in ("👍", "👍🏽", "👨‍👩‍👧", ":party_parrot:", ":+1:"):
            await alice.ok("reaction:add", {"messageId": msg_id, "emoji": good})
        over_rest = await http.post(
            f"/api/v1/messages/{msg_id}/reactions", json={"emoji": "../../x"}, headers=alice.auth
        )
        assert over_rest.status_code == 422, over_rest.text

        calendar = await http.post("/api/v1/calendars", json={"name": "Z"}, headers=alice.auth)
        event = {"calendarId": calendar.json()["id"], "title": "T", "startTime": "2026-06-01T10:00:00Z",
                 "endTime": "2026-06-01T11:00:00Z"}  # fmt: skip
        for zone in (" UTC", "UTC ", "localtime", "posixrules", "../../etc/passwd"):
            refused = await http.post("/api/v1/calendar-events", json={**event, "timeZone": zone}, headers=alice.auth)
            assert refused.status_code == 422, (zone, refused.text)
        accepted = await http.post(
            "/api/v1/calendar-events", json={**event, "timeZone": "Europe/Paris"}, headers=alice.auth
        )
        assert accepted.status_code == 201, accepted.text
    finally:
        await alice.sock.close()
