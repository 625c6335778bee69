"""The broadcasts sidecar end to end: a real server, real HTTP, real Socket.IO clients, a real webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from connectnow.clock import utcnow
from tests.sidecar_broadcasts.live import api_http, broadcasts_server, code, signup
from tests.sidecar_broadcasts.receiver import Receiver
from tests.support.clients import PASSWORD, SocketClient, bearer, openapi_document, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


server = broadcasts_server("broadcasts")
http = api_http()


async def user(http: httpx.AsyncClient) -> dict[str, Any]:
    data = await signup(http, "b")
    return {"id": data["user"]["id"], "token": data["accessToken"], "auth": bearer(data["accessToken"])}


def in_seconds(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


async def test_rest_contacts_groups_templates_and_refusals(http: httpx.AsyncClient) -> None:
    alice, mallory = await user(http), await user(http)
    assert code(await http.get("/contacts")) == "AUTH_REQUIRED"
    made = await http.post("/contacts", json={"name": "Bob", "phoneNumber": "+1 202 555 0143"}, headers=alice["auth"])
    assert made.status_code == 201 and made.json()["contact"]["phoneNumber"] == "+12025550143"
    bob_id = made.json()["contact"]["id"]
    for body, status, expected in (
        ({"name": "X", "phoneNumber": "555"}, 422, "PHONE_AMBIGUOUS"),
        ({"name": "X", "phoneNumber": "+1 202 555"}, 422, "PHONE_INVALID"),
        ({"name": "X", "phoneNumber": {"$ne": None}}, 422, "VALIDATION_FAILED"),
        ({"name": "X", "phoneNumber": "+12025550143", "userId": mallory["id"]}, 422, "VALIDATION_FAILED"),
        ({"name": "Bob 2", "phoneNumber": "+12025550143"}, 409, "CONTACT_DUPLICATE"),
    ):
        answer = await http.post("/contacts", json=body, headers=alice["auth"])
        assert (answer.status_code, code(answer)) == (status, expected), answer.text
    merged = await http.post(
        "/contacts",
        params={"onDuplicate": "merge"},
        json={"name": "Bob", "phoneNumber": "+12025550143", "notes": "n"},
        headers=alice["auth"],
    )
    assert merged.json()["merged"] is True and merged.json()["contact"]["id"] == bob_id
    big = await http.post(
        "/contacts", json={"name": "X", "phoneNumber": "+12025550199", "notes": "x" * 2_000_000}, headers=alice["auth"]
    )
    assert (big.status_code, code(big)) == (413, "PAYLOAD_TOO_LARGE")
    assert (await http.get(f"/contacts/{bob_id}", headers=mallory["auth"])).status_code == 404
    assert (await http.delete(f"/contacts/{bob_id}", headers=mallory["auth"])).status_code == 404
    listed = await http.get("/contacts", params={"sort": "-createdAt", "limit": 10}, headers=alice["auth"])
    assert [c["id"] for c in listed.json()["items"]] == [bob_id]
    assert code(await http.get("/contacts", params={"limit": 0}, headers=alice["auth"])) == "VALIDATION_FAILED"

    group = await http.post("/groups", json={"name": "Friends", "color": "#00ff00"}, headers=alice["auth"])
    gid = group.json()["id"]
    added = await http.post(f"/groups/{gid}/members", json={"contactIds": [bob_id]}, headers=alice["auth"])
    assert added.json() == {"changed": 1, "memberCount": 1}
    foreign = await http.post(f"/groups/{gid}/members", json={"contactIds": [bob_id]}, headers=mallory["auth"])
    assert foreign.status_code == 404
    assert [c["id"] for c in (await http.get(f"/groups/{gid}/contacts", headers=alice["auth"])).json()] == [bob_id]
    assert [g["id"] for g in (await http.get(f"/contacts/{bob_id}/groups", headers=alice["auth"])).json()] == [gid]
    bad_color = await http.post("/groups", json={"name": "X", "color": "red"}, headers=alice["auth"])
    assert code(bad_color) == "VALIDATION_FAILED"

    tpl = await http.post("/templates", json={"name": "T", "content": "Hi {{nmae}}"}, headers=alice["auth"])
    assert (tpl.status_code, code(tpl)) == (422, "TEMPLATE_UNKNOWN_PLACEHOLDER")
    tpl = await http.post("/templates", json={"name": "T", "content": "Hi {{name}}"}, headers=alice["auth"])
    assert tpl.status_code == 201 and tpl.json()["placeholders"] == ["name"]
    assert (await http.get(f"/templates/{tpl.json()['id']}", headers=mallory["auth"])).status_code == 404
    assert (await http.delete(f"/groups/{gid}", headers=alice["auth"])).status_code == 204
    assert (await http.get(f"/contacts/{bob_id}/groups", headers=alice["auth"])).json() == []


async def test_openapi_documents_the_sidecar(server: LiveServer) -> None:
    spec = await openapi_document(server.base_url)
    paths = spec["paths"]
    for path in (
        "/api/v1/contacts",
        "/api/v1/contacts/import",
        "/api/v1/contacts/export",
        "/api/v1/groups/{group_id}/members",
        "/api/v1/templates",
        "/api/v1/scheduled",
        "/api/v1/scheduled/{scheduled_id}/cancel",
        "/api/v1/broadcasts/webhook",
        "/api/v1/studybooks",
        "/api/v1/studybook-selections",
        "/api/v1/broadcast-series",
        "/api/v1/broadcast-series/{series_id}/occurrences",
        "/api/v1/broadcast-series/{series_id}/pause",
    ):
        assert path in paths, path
    assert "text/csv" in paths["/api/v1/contacts/import"]["post"]["requestBody"]["content"]


async def test_rest_csv_import_and_export(http: httpx.AsyncClient) -> None:
    alice = await user(http)
    text = "name,phoneNumber,email\nAnn,+12025550140,ann@example.com\nBad,12,\nAnn dup,+1 202 555 0140,\n"
    as_body = await http.post("/contacts/import", content=text, headers={**alice["auth"], "Content-Type": "text/csv"})
    report = as_body.json()
    assert as_body.status_code == 200, as_body.text
    assert (report["created"], report["merged"], report["refused"]) == (1, 0, 2)
    assert [r["code"] for r in report["rows"]] == [None, "PHONE_AMBIGUOUS", "CONTACT_DUPLICATE"]
    as_file = await http.post(
        "/contacts/import",
        params={"onDuplicate": "merge"},
        files={"file": ("book.csv", text.encode(), "text/csv")},
        headers=alice["auth"],
    )
    assert [r["outcome"] for r in as_file.json()["rows"]] == ["merged", "refused", "merged"]
    wrong = await http.post("/contacts/import", json={"a": 1}, headers=alice["auth"])
    assert code(wrong) == "CSV_INVALID"
    exported = await http.get("/contacts/export", headers=alice["auth"])
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[1].startswith("Ann dup,+12025550140,ann@example.com,")


async def test_scheduled_webhook_delivery_and_status_pushed(http: httpx.AsyncClient, server: LiveServer) -> None:
    receiver = Receiver()
    await receiver.start()
    alice = await user(http)
    sock = SocketClient()
    try:
        await sock.connect(server.base_url, alice["token"])
        contact = await http.post(
            "/contacts", json={"name": "Ann Lee", "phoneNumber": "+12025550140"}, headers=alice["auth"]
        )
        cid = contact.json()["contact"]["id"]
        target = {"kind": "contact", "contactId": cid}
        missing = await http.post(
            "/scheduled", json={"target": target, "message": "x", "scheduledFor": in_seconds(60)}, headers=alice["auth"]
        )
        assert code(missing) == "WEBHOOK_NOT_CONFIGURED"
        hook = await http.put("/broadcasts/webhook", json={"url": receiver.url("/ok")}, headers=alice["auth"])
        assert hook.json()["signatureHeader"] == "X-ConnectNow-Signature"
        for body, expected in (
            ({"scheduledFor": in_seconds(-60)}, "SCHEDULE_IN_PAST"),
            ({"scheduledFor": "2026-03-29T02:30:00", "timeZone": "Europe/Paris"}, "SCHEDULE_NONEXISTENT_TIME"),
            ({"scheduledFor": "2030-01-01T10:00:00", "timeZone": "Atlantis/Capital"}, "TIMEZONE_UNKNOWN"),
            ({"scheduledFor": in_seconds(200 * 86400)}, "SCHEDULE_BEYOND_HORIZON"),
        ):
            refused = await http.post(
                "/scheduled", json={"target": target, "message": "x", **body}, headers=alice["auth"]
            )
            assert code(refused) == expected
        made = await http.post(
            "/scheduled",
            json={"target": target, "message": "Hello {{firstName}}", "scheduledFor": in_seconds(1.0)},
            headers=alice["auth"],
        )
        assert made.status_code == 201 and made.json()["status"] == "pending"
        sid = made.json()["id"]
        done = await sock.wait_for("broadcast:status", lambda d: d["id"] == sid and d["status"] == "sent", timeout=10)
        assert done["delivered"] == 1 and done["actualDeliveryTime"]
        assert [r.json["text"] for r in receiver.answered] == ["Hello Ann"]
        await sock.wait_for("broadcast:delivery", lambda d: d["sourceId"] == sid)
        cancel = await http.post(f"/scheduled/{sid}/cancel", headers=alice["auth"])
        assert (cancel.status_code, code(cancel)) == (409, "SCHEDULE_ALREADY_SENT")
        deliveries = await http.get(f"/scheduled/{sid}/deliveries", headers=alice["auth"])
        assert deliveries.json()[0]["deliveryAttempts"] == 1
        later = await http.post(
            "/scheduled",
            json={"target": target, "message": "later", "scheduledFor": in_seconds(3600)},
            headers=alice["auth"],
        )
        lid = later.json()["id"]
        for _ in range(2):  # cancelling twice is harmless
            again = await http.post(f"/scheduled/{lid}/cancel", headers=alice["auth"])
            assert again.status_code == 200 and again.json()["status"] == "cancelled"
        listed = await http.get("/scheduled", params={"status": "cancelled"}, headers=alice["auth"])
        assert [s["id"] for s in listed.json()["items"]] == [lid]
    finally:
        await sock.close()
        await receiver.stop()


async def test_in_app_delivery_into_a_channel_and_a_direct_conversation(
    http: httpx.AsyncClient, server: LiveServer
) -> None:
    alice, bob, eve = await user(http), await user(http), await user(http)
    bob_sock = SocketClient()
    try:
        ws = await http.post("/workspaces", json={"name": unique_name("ws"), "isPublic": True}, headers=alice["auth"])
        ws_id = ws.json()["id"]
        channel = (await http.get(f"/workspaces/{ws_id}/channels", headers=alice["auth"])).json()[0]["id"]
        assert (await http.post(f"/workspaces/{ws_id}/join", headers=bob["auth"])).status_code == 200
        await bob_sock.connect(server.base_url, bob["token"])
        # eve is not in the workspace: she may not schedule into its channel.
        foreign = await http.post(
            "/scheduled",
            json={"target": {"kind": "channel", "channelId": channel}, "message": "x", "scheduledFor": in_seconds(60)},
            headers=eve["auth"],
        )
        assert foreign.status_code in (403, 404) and code(foreign) in ("NOT_FOUND", "NOT_A_MEMBER")
        placeholders = await http.post(
            "/scheduled",
            json={
                "target": {"kind": "channel", "channelId": channel},
                "message": "Hi {{name}}",
                "scheduledFor": in_seconds(60),
            },
            headers=alice["auth"],
        )
        assert code(placeholders) == "PLACEHOLDER_NEEDS_CONTACT"
        made = await http.post(
            "/scheduled",
            json={
                "target": {"kind": "channel", "channelId": channel},
                "message": "standup in 5",
                "scheduledFor": in_seconds(1),
            },
            headers=alice["auth"],
        )
        assert made.status_code == 201, made.text
        got = await bob_sock.wait_for("message:new", lambda d: d["message"]["content"] == "standup in 5", timeout=10)
        assert got["message"]["userId"] == alice["id"]
        history = await http.get(f"/channels/{channel}/messages", headers=bob["auth"])
        assert [m["content"] for m in history.json()].count("standup in 5") == 1

        conv = await http.post("/direct/conversations", json={"userId": bob["id"]}, headers=alice["auth"])
        conv_id = conv.json()["id"]
        made = await http.post(
            "/scheduled",
            json={
                "target": {"kind": "direct", "conversationId": conv_id},
                "message": "psst",
                "scheduledFor": in_seconds(1),
            },
            headers=alice["auth"],
        )
        assert made.status_code == 201, made.text
        await bob_sock.wait_for("dm:message", lambda d: "psst" in str(d), timeout=10)
        not_mine = await http.post(
            "/scheduled",
            json={
                "target": {"kind": "direct", "conversationId": conv_id},
                "message": "x",
                "scheduledFor": in_seconds(60),
            },
            headers=eve["auth"],
        )
        assert code(not_mine) == "NOT_FOUND"
    finally:
        await bob_sock.close()


async def test_study_books_admin_and_user_selection(http: httpx.AsyncClient, server: LiveServer) -> None:
    name = unique_name("admin")
    server.create_admin(name, PASSWORD)
    login = await http.post("/auth/login", json={"login": name, "password": PASSWORD})
    admin = bearer(login.json()["accessToken"])
    reader = await user(http)
    refused = await http.post("/studybooks", json={"title": "Mine"}, headers=reader["auth"])
    assert (refused.status_code, code(refused)) == (403, "ADMIN_REQUIRED")
    book = (await http.post("/studybooks", json={"title": "Psalms", "description": "d"}, headers=admin)).json()
    lesson = await http.post(
        f"/studybooks/{book['id']}/lessons", json={"lessonNumber": 1, "title": "One"}, headers=admin
    )
    dup = await http.post(
        f"/studybooks/{book['id']}/lessons", json={"lessonNumber": 1, "title": "Again"}, headers=admin
    )
    assert code(dup) == "CONFLICT"
    lid = lesson.json()["id"]
    pre = await http.post(
        f"/lessons/{lid}/predefined", json={"content": "Read psalm 23", "messageType": "scripture"}, headers=admin
    )
    assert pre.status_code == 201
    assert [b["title"] for b in (await http.get("/studybooks", headers=reader["auth"])).json()] == ["Psalms"]
    assert (await http.get(f"/studybooks/{book['id']}/lessons", headers=reader["auth"])).json()[0]["lessonNumber"] == 1
    custom = await http.post(f"/lessons/{lid}/custom", json={"content": "My note"}, headers=reader["auth"])
    selected = await http.post(
        "/studybook-selections",
        json={"lessonId": lid, "customMessageId": custom.json()["id"]},
        headers=reader["auth"],
    )
    assert selected.status_code == 201 and selected.json()["isScheduled"] is False
    both = await http.post(
        "/studybook-selections",
        json={"lessonId": lid, "customMessageId": custom.json()["id"], "predefinedMessageId": pre.json()["id"]},
        headers=reader["auth"],
    )
    assert code(both) == "BROADCAST_CONTENT_INVALID"
    await http.patch(f"/studybooks/{book['id']}", json={"isActive": False}, headers=admin)
    assert (await http.get("/studybooks", headers=reader["auth"])).json() == []
    assert (await http.get(f"/studybooks/{book['id']}/lessons", headers=reader["auth"])).status_code == 404
