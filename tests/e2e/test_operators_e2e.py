"""Operators: the dashboard in a real headless Chromium, and /metrics moving with real traffic."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
# The flags the machine notes prescribe for a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_dashboard_shows_counts_changing(server: LiveServer) -> None:
    assert CHROMIUM is not None, "Chromium is missing: scripts/test installs Debian's chromium package"
    from playwright.async_api import async_playwright, expect

    admin = unique_name("ops")
    made = server.cli(
        "create-admin", "--email", f"{admin}@example.com", "--username", admin, "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
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
