"""Operators: the dashboard in a real headless Chromium, and /metrics moving with real traffic."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer.start(
        tmp_path / "ops",
        dashboard_interval_seconds="0.5",
        presence_sweep_seconds="0.2",
        metrics_allowed_networks="127.0.0.1",  # this test reads /metrics as the local Prometheus would
    )
    try:
        yield live
    finally:
        live.stop()


def make_admin(server: LiveServer) -> str:
    admin = unique_name("ops")
    server.create_admin(admin, PASSWORD)
    return admin


async def public_workspace(http: httpx.AsyncClient, owner: dict[str, Any], *members: dict[str, Any]) -> dict[str, Any]:
    """A public workspace of `owner` that every one of `members` has joined."""
    made = await http.post(
        "/api/v1/workspaces",
        json={"name": "Ops " + uuid.uuid4().hex[:6], "isPublic": True},
        headers=bearer(owner["accessToken"]),
    )
    assert made.status_code == 201, made.text
    for member in members:
        joined = await http.post(f"/api/v1/workspaces/{made.json()['id']}/join", headers=bearer(member["accessToken"]))
        assert joined.status_code == 200, joined.text
    workspace: dict[str, Any] = made.json()
    return workspace


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_dashboard_shows_counts_changing(server: LiveServer) -> None:
    assert CHROMIUM is not None, "Chromium is missing: scripts/test installs Debian's chromium package"
    from playwright.async_api import async_playwright, expect

    admin = make_admin(server)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        user = await register(http)
        ws = await http.post(
            "/api/v1/workspaces", json={"name": "Ops " + uuid.uuid4().hex[:6]}, headers=bearer(user["accessToken"])
        )
        assert ws.status_code == 201
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{server.base_url}/dashboard")
            await page.fill("#login-name", admin)
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            # Locator assertions need no eval, so the page runs under its real Content-Security-Policy.
            await expect(page.locator("#status")).to_have_text("live", timeout=10_000)
            await expect(page.locator("#total-sockets")).to_have_text("1")
            client = SocketClient()
            await client.connect(server.base_url, user["accessToken"])
            try:
                await expect(page.locator("#total-sockets")).to_have_text("2", timeout=10_000)
                await expect(page.locator("#recent")).to_contain_text(user["user"]["username"])
                row = page.locator(f"#workspaces tr[data-workspace='{ws.json()['id']}'] td:nth-child(3)")
                await expect(row).to_have_text("1", timeout=10_000)
            finally:
                await client.close()
            await expect(page.locator("#total-sockets")).to_have_text("1", timeout=10_000)
            await page.screenshot(path=str(Path(server.env["CONNECTNOW_DATA_DIR"]) / "dashboard.png"))
        finally:
            await browser.close()


async def test_dashboard_is_for_administrators_only(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        user = await register(http)
        page = await http.get("/dashboard")
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    sock = SocketClient()
    await sock.connect(server.base_url, user["accessToken"])
    try:
        ack = await sock.call("dashboard:subscribe")
        assert ack["ok"] is False and ack["error"]["code"] == "ADMIN_REQUIRED"
    finally:
        await sock.close()


async def test_metrics_move_with_traffic(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        before = (await http.get("/metrics")).text
        user = await register(http)
        ws = (
            await http.post(
                "/api/v1/workspaces", json={"name": "M " + uuid.uuid4().hex[:6]}, headers=bearer(user["accessToken"])
            )
        ).json()
        channel_id = (
            await http.get(f"/api/v1/workspaces/{ws['id']}/channels", headers=bearer(user["accessToken"]))
        ).json()[0]["id"]
        sock = SocketClient()
        await sock.connect(server.base_url, user["accessToken"])
        try:
            for i in range(3):
                ack = await sock.call(
                    "message:send", {"channelId": channel_id, "content": f"m{i}", "clientMsgId": uuid.uuid4().hex}
                )
                assert ack["ok"]
            bad = await sock.call("message:send", {"channelId": {"$ne": None}})
            assert bad["ok"] is False
            during = (await http.get("/metrics")).text
        finally:
            await sock.close()
    assert metric(during, "connectnow_connected_sockets") == 1
    assert metric(during, "connectnow_messages_total") >= metric(before, "connectnow_messages_total") + 3
    assert metric(during, "connectnow_socket_connects_total") >= 1
    assert 'connectnow_refusals_total{code="VALIDATION_FAILED"}' in during
    assert "connectnow_fanout_latency_seconds_bucket" in during and "connectnow_recovery_total" in during


NONZERO = re.compile(r"^(?!0$)[0-9.]+")


async def test_charts_drill_down_and_audited_actions(server: LiveServer) -> None:
    """An administrator watches charts move with traffic, finds the right people in a workspace, and
    disconnects and bans one of them after confirming; both actions land in the audit trail."""
    assert CHROMIUM is not None, "Chromium is missing: scripts/test installs Debian's chromium package"
    from playwright.async_api import async_playwright, expect

    admin = make_admin(server)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        alice, bob, carol = await register(http), await register(http), await register(http)
        ws = await public_workspace(http, alice, bob)
        await public_workspace(http, carol)  # carol is elsewhere: she must not show up in alice's workspace
        channel_id = (
            await http.get(f"/api/v1/workspaces/{ws['id']}/channels", headers=bearer(alice["accessToken"]))
        ).json()[0]["id"]
        bob_sock = SocketClient()
        await bob_sock.connect(server.base_url, bob["accessToken"])
        busy = await bob_sock.call("presence:set", {"status": "BUSY", "statusText": "deploying"})
        assert busy["ok"], busy
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 1100})
                await page.goto(f"{server.base_url}/dashboard")
                await page.fill("#login-name", admin)
                await page.fill("#login-password", PASSWORD)
                await page.click("#login-submit")
                await expect(page.locator("#status")).to_have_text("live", timeout=10_000)

                # Charts move with traffic: messages per second and sockets leave zero.
                for i in range(8):
                    sent = await http.post(
                        f"/api/v1/channels/{channel_id}/messages",
                        json={"content": f"traffic {i}", "clientMsgId": uuid.uuid4().hex},
                        headers=bearer(alice["accessToken"]),
                    )
                    assert sent.status_code == 201, sent.text
                await expect(page.locator("#svg-messages")).to_have_attribute("data-max", NONZERO, timeout=10_000)
                await expect(page.locator("#svg-sockets")).to_have_attribute("data-max", NONZERO, timeout=10_000)
                await expect(page.locator("#svg-messages path.line")).to_have_count(1)
                await expect(page.locator("#svg-fanout path.line")).to_have_count(2, timeout=10_000)

                # Drill-down: the worker's health, then the workspace's members.
                await page.locator("#workers tr").first.click()
                await expect(page.locator("#health-fields dd[data-field='broker']")).to_have_text("memory")
                await expect(page.locator("#health-fields dd[data-field='python']")).to_have_text(re.compile(r"^3\."))
                await page.click(f"#workspaces tr[data-workspace='{ws['id']}']")
                await expect(page.locator("#members-total")).to_have_text("2", timeout=10_000)
                members = page.locator("#members tr")
                await expect(members).to_have_count(2)
                await expect(page.locator("#members")).not_to_contain_text(carol["user"]["username"])
                bob_row = page.locator(f"#members tr[data-user='{bob['user']['id']}']")
                await expect(bob_row.locator("td:nth-child(4)")).to_have_text("BUSY")
                await expect(bob_row.locator("td:nth-child(5)")).to_have_text("deploying")
                await expect(bob_row.locator("td:nth-child(7)")).to_have_text("1")
                await page.fill("#member-query", bob["user"]["username"])
                await page.click("#members-search button[type='submit']")
                await expect(page.locator("#members-total")).to_have_text("1")
                await expect(members).to_have_count(1)

                # Disconnect, after confirming: bob's socket closes; cancelling does nothing.
                await bob_row.locator("button[data-action='disconnect']").click()
                await expect(page.locator("#confirm")).to_be_visible()
                await page.click("#confirm-no")
                await asyncio.sleep(0.5)
                assert bob_sock.sio.connected, "a cancelled action must not run"
                await bob_row.locator("button[data-action='disconnect']").click()
                await page.fill("#confirm-reason", "checking the reconnect path")
                await page.click("#confirm-yes")
                await expect(page.locator("#action-result")).to_have_text("disconnect done")
                await bob_sock.wait_for("session:ended")
                for _ in range(100):
                    if not bob_sock.sio.connected:
                        break
                    await asyncio.sleep(0.05)
                assert not bob_sock.sio.connected
                # Ban, after confirming: bob can no longer sign in.
                await bob_row.locator("button[data-action='ban']").click()
                await page.click("#confirm-yes")
                await expect(page.locator("#action-result")).to_have_text("ban done")
                await expect(bob_row.locator("td:nth-child(4)")).to_contain_text("banned")
                audit = page.locator("#audit")
                await expect(audit).to_contain_text("checking the reconnect path")
                await expect(audit.locator("tr")).to_have_count(2)
                await page.screenshot(
                    path=str(Path(server.env["CONNECTNOW_DATA_DIR"]) / "operators.png"), full_page=True
                )
            finally:
                await browser.close()
        await bob_sock.close()
        login = await http.post("/api/v1/auth/login", json={"login": bob["user"]["username"], "password": PASSWORD})
        assert login.status_code == 403 and login.json()["error"]["code"] == "USER_BANNED"
        trail = await http.get("/api/v1/admin/actions", headers=bearer(await admin_token(http, admin)))
        assert [(e["action"], e["outcome"], e["targetUserId"]) for e in trail.json()] == [
            ("ban", "done", bob["user"]["id"]),
            ("disconnect", "done", bob["user"]["id"]),
        ]


async def admin_token(http: httpx.AsyncClient, admin: str) -> str:
    login = await http.post("/api/v1/auth/login", json={"login": admin, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["accessToken"]
    return token


async def test_operator_actions_are_refused_to_non_administrators(server: LiveServer) -> None:
    """Every drill-down and action, over REST and over Socket.IO, is ADMIN_REQUIRED for a plain user, and
    nothing happens to the target."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        mallory, victim = await register(http), await register(http)
        ws = await public_workspace(http, victim)
        sessions = await http.get("/api/v1/auth/sessions", headers=bearer(victim["accessToken"]))
        assert sessions.status_code == 200, sessions.text
        victim_session = sessions.json()[0]["id"]
        target = SocketClient()
        await target.connect(server.base_url, victim["accessToken"])
        mine = bearer(mallory["accessToken"])
        rest_calls = [
            http.post(
                "/api/v1/admin/actions", json={"action": "disconnect", "userId": victim["user"]["id"]}, headers=mine
            ),
            http.post("/api/v1/admin/actions", json={"action": "ban", "userId": victim["user"]["id"]}, headers=mine),
            http.post(
                "/api/v1/admin/actions",
                json={"action": "revokeSession", "userId": victim["user"]["id"], "sessionId": victim_session},
                headers=mine,
            ),
            http.get("/api/v1/admin/actions", headers=mine),
            http.get(f"/api/v1/admin/users/{victim['user']['id']}/sessions", headers=mine),
            http.get(f"/api/v1/admin/workspaces/{ws['id']}/members", headers=mine),
            http.get("/api/v1/admin/workers", headers=mine),
        ]
        for answer in [await c for c in rest_calls]:
            assert answer.status_code == 403 and answer.json()["error"]["code"] == "ADMIN_REQUIRED", answer.text
        sock = SocketClient()
        await sock.connect(server.base_url, mallory["accessToken"])
        try:
            for event, payload in [
                ("dashboard:action", {"action": "disconnect", "userId": victim["user"]["id"]}),
                ("dashboard:action", {"action": "ban", "userId": victim["user"]["id"]}),
                ("dashboard:members", {"workspaceId": ws["id"]}),
                ("dashboard:sessions", {"userId": victim["user"]["id"]}),
                ("dashboard:audit", None),
            ]:
                ack = await sock.call(event, payload)
                assert ack["ok"] is False and ack["error"]["code"] == "ADMIN_REQUIRED", (event, ack)
            await asyncio.sleep(0.5)
            assert target.sio.connected and not target.received("session:ended")
            me = await http.get("/api/v1/users/me", headers=bearer(victim["accessToken"]))
            assert me.status_code == 200 and me.json()["isBanned"] is False
        finally:
            await sock.close()
            await target.close()
    # And the page itself turns a plain user away before showing anything.
    assert CHROMIUM is not None, "Chromium is missing: scripts/test installs Debian's chromium package"
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{server.base_url}/dashboard")
            await page.fill("#login-name", mallory["user"]["username"])
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            await expect(page.locator("#login-error")).to_have_text(re.compile("Only server administrators"))
            await expect(page.locator("#panel")).to_be_hidden()
        finally:
            await browser.close()


async def seed_members(database_url: str, data_dir: Path, workspace_id: str, count: int) -> None:
    """`count` users in the workspace, written straight into the server's database (registering 10,000 users
    through the API would take minutes of password hashing)."""
    from connectnow.clock import new_id, utcnow
    from connectnow.config import Settings
    from connectnow.store import open_store

    store = await open_store(Settings(env="development", database_url=database_url, data_dir=data_dir))
    try:
        now = utcnow()
        users, members = [], []
        for i in range(count):
            uid, name = new_id(), f"bulk{i:05d}"
            users.append({"id": uid, "email": f"{name}@example.com", "emailLower": f"{name}@example.com",
                          "username": name, "usernameLower": name, "displayName": f"Bulk {i}",
                          "createdAt": now, "updatedAt": now})  # fmt: skip
            members.append({"id": new_id(), "workspaceId": workspace_id, "userId": uid, "role": "MEMBER",
                            "joinedAt": now})  # fmt: skip
        await store.collection("users").insert_many(users)
        await store.collection("workspace_members").insert_many(members)
    finally:
        await store.close()


async def test_member_drill_down_pages_and_searches_ten_thousand_members(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'big.db'}"
    live = LiveServer.start(tmp_path / "big", database_url=database_url)
    try:
        admin = make_admin(live)
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
            owner = await register(http)
            ws = await public_workspace(http, owner)
            await seed_members(database_url, tmp_path / "big", ws["id"], 10_000)
            token = await admin_token(http, admin)
            url = f"/api/v1/admin/workspaces/{ws['id']}/members"
            seen: list[str] = []
            for offset in range(0, 10_001, 200):
                page = (await http.get(url, params={"offset": offset, "limit": 200}, headers=bearer(token))).json()
                assert page["total"] == 10_001 and page["offset"] == offset
                seen += [m["username"] for m in page["members"]]
            assert len(seen) == 10_001 and len(set(seen)) == 10_001, "every member once, none twice"
            # In the order the accounts were made: the owner first, then the seeded members.
            assert seen[0] == owner["user"]["username"] and set(seen[1:]) == {f"bulk{i:05d}" for i in range(10_000)}
            found = (await http.get(url, params={"q": "BULK0999"}, headers=bearer(token))).json()
            assert found["total"] == 10
            assert sorted(m["username"] for m in found["members"]) == [f"bulk0999{i}" for i in range(10)]
            assert all(m["status"] == "OFFLINE" and m["devices"] == 0 for m in found["members"])
            by_display = (await http.get(url, params={"q": "bulk 1234"}, headers=bearer(token))).json()
            assert [m["username"] for m in by_display["members"]] == ["bulk01234"]
    finally:
        live.stop()
