"""End to end against a real `connectnow serve`: REST shapes and codes, authorization, OpenAPI, the
background worker, and the re-encryption command after a key rotation."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e
API = "/api/v1/scheduling"
OLD_KEY = base64.b64encode(os.urandom(32)).decode()
NEW_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path / "srv", encryption_keys=f"old:{OLD_KEY}", scheduling_job_poll_seconds="0.2")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        yield http


def booking(host_id: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"userId": host_id, "eventTypeId": 3, "title": "Visit", "startTime": start, "endTime": end, **extra}


async def make_admin(server: LiveServer, client: httpx.AsyncClient) -> str:
    name = unique_name("admin")
    made = server.cli(
        "create-admin", "--email", f"{name}@example.com", "--username", name, "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    login = await client.post("/api/v1/auth/login", json={"login": name, "password": PASSWORD})
    return str(login.json()["accessToken"])


async def test_booking_flow_refusals_and_authorization(server: LiveServer, client: httpx.AsyncClient) -> None:
    host, guest, stranger = await register(client), await register(client), await register(client)
    h, g, s = bearer(host["accessToken"]), bearer(guest["accessToken"]), bearer(stranger["accessToken"])
    host_id = host["user"]["id"]
    policy = {"bufferTimeMinutes": 15, "timeZone": "America/New_York", "maxMeetingsPerDay": 3,
              "workingHours": {"start": "09:00", "end": "17:00", "timezone": "America/New_York"}}  # fmt: skip
    assert (await client.put(f"{API}/policy", json=policy, headers=h)).status_code == 200

    made = await client.post(
        f"{API}/bookings",
        json=booking(host_id, "2027-01-05T14:00:00Z", "2027-01-05T15:00:00Z", intakeData={"q": "private"}),
        headers=g,
    )
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["status"] == "pending" and created["intakeData"] == {"q": "private"} and created["duration"] == 60

    buffered = await client.post(
        f"{API}/bookings", json=booking(host_id, "2027-01-05T15:05:00Z", "2027-01-05T15:35:00Z"), headers=g
    )
    assert buffered.status_code == 409
    err = buffered.json()["error"]
    assert err["code"] == "SCHEDULING_POLICY_VIOLATION" and err["details"]["rule"] == "bufferTimeMinutes"
    early = await client.post(
        f"{API}/bookings", json=booking(host_id, "2027-01-05T12:00:00Z", "2027-01-05T12:30:00Z"), headers=g
    )
    assert early.json()["error"]["details"]["rule"] == "workingHours"

    for bad, code in (
        (booking({"$ne": None}, "2027-01-05T16:00:00Z", "2027-01-05T16:30:00Z"), "VALIDATION_FAILED"),
        (booking(host_id, "2027-01-05T16:00:00Z", "2027-01-05T15:30:00Z"), "BOOKING_TIME_INVALID"),
        (
            booking(host_id, "2027-01-05T16:00:00Z", "2027-01-05T16:30:00Z", timeZone="Atlantis/Capital"),
            "TIMEZONE_UNKNOWN",
        ),
        (booking(host_id, "2027-01-05T16:00:00Z", "2027-01-05T16:30:00Z", status="accepted"), "VALIDATION_FAILED"),
        (booking(host_id, "2027-01-05T16:00:00Z", "2027-01-05T16:30:00Z", title="x" * 2_000_000), "PAYLOAD_TOO_LARGE"),
    ):
        answer = await client.post(f"{API}/bookings", json=bad, headers=g)
        assert answer.json()["error"]["code"] == code, answer.text
    assert len((await client.get(f"{API}/bookings", headers=h)).json()) == 1  # nothing else stored

    assert (await client.get(f"{API}/bookings/{created['id']}", headers=s)).status_code == 404
    assert (await client.post(f"{API}/bookings/{created['id']}/accept", headers=g)).json()["error"][
        "code"
    ] == "FORBIDDEN"
    assert (await client.post(f"{API}/bookings/{created['id']}/accept", headers=h)).json()["status"] == "accepted"
    assert (await client.get(f"{API}/bookings", headers=s)).json() == []
    assert (await client.get(f"{API}/bookings", params={"scope": "upcoming", "status": "accepted"}, headers=g)).json()[
        0
    ]["id"] == created["id"]
    assert (await client.get(f"{API}/bookings")).status_code == 401

    slots = await client.get(
        f"{API}/users/{host_id}/availability",
        params={"from": "2027-01-05T14:00:00Z", "to": "2027-01-05T17:00:00Z", "durationMinutes": 30},
        headers=s,
    )
    assert slots.status_code == 200
    assert [x["start"][11:16] for x in slots.json()["slots"]] == ["15:30", "16:00", "16:30"]

    # The server's own worker loop makes the summary (no test hook involved).
    for _ in range(50):
        got = await client.get(f"{API}/bookings/{created['id']}/summary", headers=h)
        if got.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert got.status_code == 200 and got.json()["summary"]["method"] == "rule-based"
    assert (await client.get(f"{API}/bookings/{created['id']}/summary", headers=s)).status_code == 404

    moved = await client.post(
        f"{API}/bookings/{created['id']}/reschedule",
        json={"startTime": "2027-01-06T14:00:00Z", "endTime": "2027-01-06T15:00:00Z", "reason": "snow"},
        headers=g,
    )
    assert moved.json()["status"] == "rescheduled"
    cancel = await client.post(f"{API}/bookings/{created['id']}/cancel", json={}, headers=g)
    assert cancel.json()["error"]["code"] == "VALIDATION_FAILED"


@pytest.mark.slow
async def test_forms_admin_audit_and_key_rotation(server: LiveServer, client: httpx.AsyncClient) -> None:
    host, guest = await register(client), await register(client)
    h, g = bearer(host["accessToken"]), bearer(guest["accessToken"])
    admin = bearer(await make_admin(server, client))
    schema = {"type": "object", "properties": {"why": {"type": "string"}}, "required": ["why"]}
    form = await client.post(f"{API}/forms", json={"name": "Intake", "eventTypeId": 3, "schema": schema}, headers=h)
    assert form.status_code == 201, form.text
    made = await client.post(
        f"{API}/bookings", json=booking(host["user"]["id"], "2027-02-01T10:00:00Z", "2027-02-01T11:00:00Z"), headers=g
    )
    booking_id = made.json()["id"]
    url = f"{API}/forms/{form.json()['id']}/responses"
    bad = await client.post(url, json={"bookingId": booking_id, "answers": {"why": 5}}, headers=g)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "FORM_RESPONSE_INVALID"
    ok = await client.post(url, json={"bookingId": booking_id, "answers": {"why": "RotationMarker"}}, headers=g)
    assert ok.status_code == 201, ok.text
    response_id = ok.json()["id"]

    assert (await client.get("/api/v1/admin/audit-logs", headers=h)).json()["error"]["code"] == "ADMIN_REQUIRED"
    logs = await client.get(
        "/api/v1/admin/audit-logs", params={"bookingId": booking_id, "action": "formResponse.create"}, headers=admin
    )
    [line] = logs.json()
    assert (
        line["userId"] == guest["user"]["id"]
        and line["ipAddress"] == "127.0.0.1"
        and "python-httpx" in line["userAgent"]
    )
    conn = await client.post(
        "/api/v1/admin/scheduling/calendar-connections",
        json={
            "userId": host["user"]["id"],
            "provider": "microsoft",
            "providerUserId": "m",
            "accessToken": "TokenMarker",
        },
        headers=admin,
    )
    assert conn.status_code == 201 and "TokenMarker" not in conn.text
    assert (
        await client.put("/api/v1/admin/scheduling/settings/bad key!", json={"value": 1}, headers=admin)
    ).status_code in (404, 422)

    openapi = (await client.get("/openapi.json")).json()["paths"]
    assert f"{API}/bookings" in openapi and "/api/v1/admin/audit-logs" in openapi

    # Rotate: the CLI re-seals everything with the new key while the old one is still configured.
    env = {
        **server.env,
        "CONNECTNOW_ENCRYPTION_KEYS": f"old:{OLD_KEY},new:{NEW_KEY}",
        "CONNECTNOW_ENCRYPTION_ACTIVE_KEY": "new",
    }
    command = [sys.executable, "-m", "connectnow", "scheduling", "reencrypt"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted form_responses.encryptedData: 1" in done.stdout
    assert "re-encrypted calendar_connections.accessToken: 1" in done.stdout
    server.stop()
    rotated = LiveServer.start(Path(server.env["CONNECTNOW_DATA_DIR"]), encryption_keys=f"new:{NEW_KEY}")
    try:
        async with httpx.AsyncClient(base_url=rotated.base_url, timeout=10.0) as again:
            relog = await again.post(
                "/api/v1/auth/login", json={"login": host["user"]["username"], "password": PASSWORD}
            )
            read = await again.get(f"{API}/form-responses/{response_id}", headers=bearer(relog.json()["accessToken"]))
            assert read.status_code == 200 and read.json()["answers"] == {"why": "RotationMarker"}
    finally:
        rotated.stop()


async def test_reminder_arrives_as_a_direct_message(server: LiveServer, client: httpx.AsyncClient) -> None:
    host, guest = await register(client), await register(client)
    g = bearer(guest["accessToken"])
    soon = (datetime.now(UTC) + timedelta(minutes=40)).replace(second=0, microsecond=0)
    body = booking(
        host["user"]["id"], soon.isoformat(), (soon + timedelta(minutes=30)).isoformat(), timeZone="Europe/Oslo"
    )
    made = await client.post(f"{API}/bookings", json=body, headers=g)
    assert made.status_code == 201, made.text
    # Booked inside the 60-minute lead time: the reminder is due at once and the server's worker posts it.
    messages: list[dict[str, Any]] = []
    for _ in range(60):
        conversations = (await client.get("/api/v1/direct/conversations", headers=g)).json()
        if conversations:
            url = f"/api/v1/direct/conversations/{conversations[0]['id']}/messages"
            messages = (await client.get(url, headers=g)).json()
            if messages:
                break
        await asyncio.sleep(0.1)
    [message] = messages
    assert message["senderId"] == host["user"]["id"] and message["recipientId"] == guest["user"]["id"]
    assert message["content"].startswith("Reminder: \u201cVisit\u201d starts ") and "Europe/Oslo" in message["content"]
    jobs = (await client.get(f"{API}/bookings/{made.json()['id']}/jobs", headers=g)).json()
    reminder = next(j for j in jobs if j["jobType"] == "send-reminder")
    assert reminder["status"] == "completed" and reminder["result"]["sent"][0]["channel"] == "chat"


async def test_booking_events_reach_only_the_participants(server: LiveServer, client: httpx.AsyncClient) -> None:
    host, guest, stranger = await register(client), await register(client), await register(client)
    sockets = {name: SocketClient() for name in ("host", "guest", "stranger")}
    for name, who in (("host", host), ("guest", guest), ("stranger", stranger)):
        await sockets[name].connect(server.base_url, who["accessToken"])
    try:
        body = booking(
            host["user"]["id"], "2027-04-01T10:00:00Z", "2027-04-01T11:00:00Z", intakeData={"q": "SocketSecret"}
        )
        made = await client.post(f"{API}/bookings", json=body, headers=bearer(guest["accessToken"]))
        assert made.status_code == 201
        seen = await sockets["host"].wait_for("scheduling:booking")
        assert seen["action"] == "create" and seen["booking"]["id"] == made.json()["id"]
        assert "intakeData" not in seen["booking"] and "SocketSecret" not in str(seen)
        await sockets["guest"].wait_for("scheduling:booking")
        accept = await client.post(f"{API}/bookings/{made.json()['id']}/accept", headers=bearer(host["accessToken"]))
        assert accept.status_code == 200
        await sockets["guest"].wait_for("scheduling:booking", lambda d: d["action"] == "accept")
        await asyncio.sleep(0.3)
        assert sockets["stranger"].received("scheduling:booking") == []
    finally:
        for sock in sockets.values():
            await sock.close()


async def test_summary_redacts_pii_over_rest(client: httpx.AsyncClient) -> None:
    """`piiDetection` (on by default): the summary a host reads over REST has no e-mail, phone or card number."""
    host, guest = await register(client), await register(client)
    h, g = bearer(host["accessToken"]), bearer(guest["accessToken"])
    where = "Desk +1 202 555 0143, card 4111 1111 1111 1111"
    leaky = booking(host["user"]["id"], "2027-02-02T14:00:00Z", "2027-02-02T14:30:00Z", title="Call ann@example.org")
    leaky["location"] = where
    made = await client.post(f"{API}/bookings", json=leaky, headers=g)
    assert made.status_code == 201, made.text
    for _ in range(100):
        got = await client.get(f"{API}/bookings/{made.json()['id']}/summary", headers=h)
        if got.status_code == 200:
            break
        await asyncio.sleep(0.1)
    summary = got.json()["summary"]
    assert summary["location"] == "Desk [phone], card [card]", got.text
    assert summary["plainText"].startswith("Call [email]: a 30-minute meeting at Desk [phone], card [card]")
