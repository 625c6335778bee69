"""Broadcasts people can leave, end to end on a live server: STOP/START replies through the signed inbound
webhook, owner-recorded opt-outs, several-group targets with de-duplicated contacts, selections filtered by
delivery status, and `createdBy` on study books and predefined messages."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from connectnow.clock import utcnow
from tests.sidecar_broadcasts.live import api_http, broadcasts_server, code, signup
from tests.sidecar_broadcasts.receiver import Receiver
from tests.support.clients import PASSWORD, bearer, openapi_document, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
PHONES = {"Ann": "+12025550140", "Ben": "+12025550141", "Cy": "+12025550142"}


server = broadcasts_server("consent")
http = api_http()


def signed(secret: bytes, body: bytes, at: float | None = None) -> dict[str, str]:
    """The documented inbound signature: t=<unix>,v1=hex HMAC-SHA256(secret, "<t>." + body)."""
    t = int(at if at is not None else time.time())
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-ConnectNow-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def secret_of(hook: dict[str, Any]) -> bytes:
    text = str(hook["secret"])
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def reply(http: httpx.AsyncClient, user_id: str, secret: bytes, phone: str, text: str) -> httpx.Response:
    body = orjson.dumps({"from": phone, "text": text})
    return await http.post(f"/broadcasts/inbound/{user_id}", content=body, headers=signed(secret, body))


async def wait_final(http: httpx.AsyncClient, auth: dict[str, str], sid: str) -> dict[str, Any]:
    for _ in range(400):
        got = (await http.get(f"/scheduled/{sid}", headers=auth)).json()
        if got["status"] in ("sent", "failed", "cancelled"):
            return dict(got)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sid} still {got['status']}")


async def test_stop_start_owner_opt_out_and_deduplicated_groups(http: httpx.AsyncClient, receiver: Receiver) -> None:
    data = await signup(http, "c")
    uid, auth = data["user"]["id"], bearer(data["accessToken"])
    ids = {}
    for name, phone in PHONES.items():
        made = await http.post("/contacts", json={"name": name, "phoneNumber": phone}, headers=auth)
        ids[name] = made.json()["contact"]["id"]
        assert made.json()["contact"]["optedOut"] is False
    hook = (await http.put("/broadcasts/webhook", json={"url": receiver.url("/ok")}, headers=auth)).json()
    secret = secret_of(hook)
    groups = []
    for members in (["Ann", "Ben"], ["Ben", "Cy"]):
        group = (await http.post("/groups", json={"name": "-".join(members), "color": "#123"}, headers=auth)).json()
        added = await http.post(
            f"/groups/{group['id']}/members", json={"contactIds": [ids[m] for m in members]}, headers=auth
        )
        assert added.status_code == 200, added.text
        groups.append(group["id"])
    # Two groups sharing Ben: three recipients, Ben once.
    both = {"kind": "groups", "groupIds": groups}
    due = (utcnow() + timedelta(seconds=8)).isoformat()  # after the replies below, even on a slow machine
    made = await http.post("/scheduled", json={"target": both, "message": "Hi {{firstName}}", "scheduledFor": due},
                           headers=auth)  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["recipients"] == 3 and made.json()["target"]["id"] == ",".join(sorted(groups))

    # The inbound webhook refuses anything not signed with this user's secret, or signed too long ago.
    body = orjson.dumps({"from": PHONES["Ben"], "text": "STOP"})
    for headers in (
        {"Content-Type": "application/json"},
        signed(b"not the secret", body),
        signed(secret, body, at=time.time() - 3600),
    ):
        refused = await http.post(f"/broadcasts/inbound/{uid}", content=body, headers=headers)
        assert (refused.status_code, code(refused)) == (401, "INBOUND_SIGNATURE_INVALID")
    assert (await http.get(f"/contacts/{ids['Ben']}", headers=auth)).json()["optedOut"] is False
    bad = await http.post(f"/broadcasts/inbound/{uid}", content=b"[]", headers=signed(secret, b"[]"))
    assert code(bad) == "VALIDATION_FAILED"

    # Ben replies "stop" before the message is due: he is left out, with the reason recorded.
    stopped = await reply(http, uid, secret, "+1 (202) 555-0141", " stop ")
    assert stopped.json() == {"action": "opted_out", "contactId": ids["Ben"]}
    ben = (await http.get(f"/contacts/{ids['Ben']}", headers=auth)).json()
    assert (ben["optedOut"], ben["optOutReason"], ben["optOutSource"]) == (True, "replied STOP", "inbound")
    assert (await reply(http, uid, secret, "+12025550199", "STOP")).json()["action"] == "unknown_contact"
    assert (await reply(http, uid, secret, PHONES["Ann"], "thanks!")).json()["action"] == "ignored"

    final = await wait_final(http, auth, made.json()["id"])
    assert (final["status"], final["delivered"]) == ("sent", 2)
    deliveries = (await http.get(f"/scheduled/{final['id']}/deliveries", headers=auth)).json()
    by_contact = {d["target"]["id"]: d for d in deliveries}
    assert by_contact[ids["Ben"]]["status"] == "cancelled"
    assert "opted out (replied STOP)" in by_contact[ids["Ben"]]["deliveryError"]
    assert sorted(r.json["to"]["contactId"] for r in receiver.answered) == sorted([ids["Ann"], ids["Cy"]])

    # Never sent to again: a direct target is refused; groups leave him out.
    to_ben = {"target": {"kind": "contact", "contactId": ids["Ben"]}, "message": "x", "scheduledFor": due}
    refused = await http.post("/scheduled", json={**to_ben, "scheduledFor": in_minutes(5)}, headers=auth)
    assert (refused.status_code, code(refused)) == (409, "CONTACT_OPTED_OUT")
    one_group = {"target": {"kind": "group", "groupId": groups[0]}, "message": "x", "scheduledFor": in_minutes(5)}
    assert (await http.post("/scheduled", json=one_group, headers=auth)).json()["recipients"] == 1

    # The owner records Cy's opt-out; a group whose every member opted out is refused.
    cy = await http.post(f"/contacts/{ids['Cy']}/opt-out", json={"reason": "asked by phone"}, headers=auth)
    assert (cy.json()["optOutReason"], cy.json()["optOutSource"]) == ("owner: asked by phone", "owner")
    second = {"target": {"kind": "group", "groupId": groups[1]}, "message": "x", "scheduledFor": in_minutes(5)}
    assert code(await http.post("/scheduled", json=second, headers=auth)) == "CONTACT_OPTED_OUT"
    other = await signup(http, "o")
    foreign = await http.post(
        f"/contacts/{ids['Cy']}/opt-out", json={"reason": "x"}, headers=bearer(other["accessToken"])
    )
    assert foreign.status_code == 404

    # Only Ben's own START brings him back.
    started = await reply(http, uid, secret, PHONES["Ben"], "START")
    assert started.json()["action"] == "opted_in"
    ben = (await http.get(f"/contacts/{ids['Ben']}", headers=auth)).json()
    assert ben["optedOut"] is False and ben["consentAt"] and ben["optOutReason"] is None
    again = await http.post("/scheduled", json={**to_ben, "scheduledFor": in_minutes(5)}, headers=auth)
    assert again.status_code == 201, again.text


def in_minutes(minutes: float) -> str:
    return (utcnow() + timedelta(minutes=minutes)).isoformat()


async def test_selections_filtered_by_delivery_status_and_created_by_shown(
    http: httpx.AsyncClient, server: LiveServer, receiver: Receiver
) -> None:
    name = unique_name("adm")
    server.create_admin(name, PASSWORD)
    login = (await http.post("/auth/login", json={"login": name, "password": PASSWORD})).json()
    admin, admin_id = bearer(login["accessToken"]), login["user"]["id"]
    book = (await http.post("/studybooks", json={"title": "Ruth"}, headers=admin)).json()
    assert book["createdBy"] == admin_id
    lesson = (await http.post(f"/studybooks/{book['id']}/lessons", json={"lessonNumber": 1, "title": "1"},
                              headers=admin)).json()  # fmt: skip
    pre = await http.post(f"/lessons/{lesson['id']}/predefined", json={"content": "Read", "messageType": "scripture"},
                          headers=admin)  # fmt: skip
    assert pre.json()["createdBy"] == admin_id
    reader = await signup(http, "r")
    auth = bearer(reader["accessToken"])
    contact = (await http.post("/contacts", json={"name": "Ann", "phoneNumber": PHONES["Ann"]}, headers=auth)).json()
    await http.put("/broadcasts/webhook", json={"url": receiver.url("/ok")}, headers=auth)
    chosen = {"lessonId": lesson["id"], "predefinedMessageId": pre.json()["id"]}
    target = {"kind": "contact", "contactId": contact["contact"]["id"]}
    kept = await http.post("/studybook-selections", json={**chosen, "target": target, "scheduledAt": in_minutes(30)},
                           headers=auth)  # fmt: skip
    dropped = await http.post("/studybook-selections", json={**chosen, "target": target, "scheduledAt": in_minutes(30)},
                              headers=auth)  # fmt: skip
    assert kept.status_code == dropped.status_code == 201, (kept.text, dropped.text)
    await http.post(f"/studybook-selections/{dropped.json()['id']}/cancel", headers=auth)
    for status, expected in (("pending", kept), ("cancelled", dropped)):
        listed = await http.get("/studybook-selections", params={"deliveryStatus": status}, headers=auth)
        assert [s["id"] for s in listed.json()] == [expected.json()["id"]]
    assert len((await http.get("/studybook-selections", headers=auth)).json()) == 2
    wrong = await http.get("/studybook-selections", params={"deliveryStatus": "lost"}, headers=auth)
    assert code(wrong) == "VALIDATION_FAILED"


async def test_openapi_lists_consent_endpoints(server: LiveServer) -> None:
    paths = (await openapi_document(server.base_url))["paths"]
    inbound = paths["/api/v1/broadcasts/inbound/{user_id}"]["post"]
    assert "application/json" in inbound["requestBody"]["content"]
    assert "/api/v1/contacts/{contact_id}/opt-out" in paths
    params = [p["name"] for p in paths["/api/v1/studybook-selections"]["get"]["parameters"]]
    assert "deliveryStatus" in params


async def test_send_at_each_recipients_local_time(http: httpx.AsyncClient, receiver: Receiver) -> None:
    data = await signup(http, "t")
    auth = bearer(data["accessToken"])
    await http.put("/broadcasts/webhook", json={"url": receiver.url("/ok")}, headers=auth)
    bad = await http.post("/contacts", json={"name": "X", "phoneNumber": "+12025550149", "timeZone": "Mars/Base"},
                          headers=auth)  # fmt: skip
    assert code(bad) == "TIMEZONE_UNKNOWN"
    ids = {}
    for (name, phone), zone in zip(PHONES.items(), ("America/New_York", "Europe/Paris", None), strict=True):
        body = {"name": name, "phoneNumber": phone, **({"timeZone": zone} if zone else {})}
        ids[name] = (await http.post("/contacts", json=body, headers=auth)).json()["contact"]["id"]
    group = (await http.post("/groups", json={"name": "All", "color": "#123"}, headers=auth)).json()["id"]
    await http.post(f"/groups/{group}/members", json={"contactIds": list(ids.values())}, headers=auth)
    local = {"target": {"kind": "group", "groupId": group}, "message": "Merry", "scheduledFor": "2026-12-24T09:00:00",
             "recipientLocalTime": True}  # fmt: skip
    missing = await http.post("/scheduled", json=local, headers=auth)
    assert (
        code(missing) == "SCHEDULE_TIME_ZONE_REQUIRED" and missing.json()["error"]["details"]["contactId"] == ids["Cy"]
    )
    made = await http.post("/scheduled", json={**local, "timeZone": "UTC"}, headers=auth)
    assert made.status_code == 201, made.text
    assert made.json()["recipientLocalTime"] is True and made.json()["scheduledFor"] == "2026-12-24T08:00:00Z"
    deliveries = (await http.get(f"/scheduled/{made.json()['id']}/deliveries", headers=auth)).json()
    due = {d["target"]["id"]: d["scheduledFor"] for d in deliveries}
    assert due == {
        ids["Ann"]: "2026-12-24T14:00:00Z",
        ids["Ben"]: "2026-12-24T08:00:00Z",
        ids["Cy"]: "2026-12-24T09:00:00Z",
    }
    moved = await http.patch(
        f"/scheduled/{made.json()['id']}", json={"scheduledFor": "2026-12-25T09:00:00Z"}, headers=auth
    )
    assert code(moved) == "VALIDATION_FAILED"
    with_offset = await http.post("/scheduled", json={**local, "scheduledFor": "2026-12-24T09:00:00Z"}, headers=auth)
    assert code(with_offset) == "VALIDATION_FAILED"
