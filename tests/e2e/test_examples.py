"""The example clients in examples/ run against a live server: log in, join, send, react, read history.

The JavaScript client needs node and npm (the client library is installed into examples/js/node_modules on
first run). Without node this test fails with a clear message rather than skipping: the examples are part
of the product.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import PASSWORD, SocketClient, bearer, register, unique_name
from tests.support.live_server import LiveServer, shared_server
from tests.support.node import ensure_node_packages, run

pytestmark = pytest.mark.e2e
live_server = shared_server("examples")  # one server for the module (overrides the per-test fixture)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CLIENT_TIMEOUT_SECS = 60


async def public_channel(http: httpx.AsyncClient, owner_token: str) -> tuple[str, str]:
    created = await http.post(
        "/api/v1/workspaces", json={"name": unique_name("examples"), "isPublic": True}, headers=bearer(owner_token)
    )
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    channels = await http.get(f"/api/v1/workspaces/{workspace_id}/channels", headers=bearer(owner_token))
    return workspace_id, channels.json()[0]["id"]


def client_env(server: LiveServer, login: str, workspace_id: str, channel_id: str, message: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTNOW_", "CN_"))}
    env.update(
        {
            "CONNECTNOW_URL": server.base_url,
            "CN_LOGIN": login,
            "CN_PASSWORD": PASSWORD,
            "CN_WORKSPACE_ID": workspace_id,
            "CN_CHANNEL_ID": channel_id,
            "CN_MESSAGE": message,
        }
    )
    return env


async def check_run(
    owner: SocketClient, result: dict[str, Any], user: dict[str, Any], message: str, client: str
) -> None:
    assert result["client"] == client and result["userId"] == user["user"]["id"]
    assert result["reactions"] == [{"emoji": "👍", "count": 1, "userIds": [user["user"]["id"]]}]
    mine = [m for m in result["history"] if m["id"] == result["messageId"]]
    assert mine == [{"id": result["messageId"], "seq": result["seq"], "content": message, "userId": user["user"]["id"]}]
    seqs = [m["seq"] for m in result["history"]]
    assert seqs == sorted(seqs)
    # The client rule: its own message and reaction applied once each, in eventSeq order.
    assert result["mark"] >= result["eventSeq"] + 1
    assert result["applied"] == sorted(set(result["applied"]))
    assert {result["eventSeq"], result["eventSeq"] + 1} <= set(result["applied"])
    # Another member's live socket saw both the message and the reaction.
    await owner.wait_for("message:new", lambda d: d["messageId"] == result["messageId"])
    await owner.wait_for("reaction:added", lambda d: d["messageId"] == result["messageId"])


async def test_python_and_javascript_examples(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    node = ensure_node_packages(EXAMPLES / "js", probe="@connectnow/client")
    owner = await register(http, unique_name("owner"))
    workspace_id, channel_id = await public_channel(http, owner["accessToken"])
    watcher = SocketClient()
    await watcher.connect(live_server.base_url, owner["accessToken"])
    try:
        runs = [
            ("python", [sys.executable, str(EXAMPLES / "python" / "chat_client.py")], EXAMPLES / "python"),
            ("javascript", [node, "chat_client.mjs"], EXAMPLES / "js"),
        ]
        for client, cmd, cwd in runs:
            user = await register(http, unique_name(client[:2]))
            message = f"hello from the {client} example ✓"
            env = client_env(live_server, user["user"]["username"], workspace_id, channel_id, message)
            code, out, err = await run(cmd, cwd=cwd, env=env, timeout=CLIENT_TIMEOUT_SECS)
            assert code == 0, f"{client} example failed:\n{out}\n{err}"
            await check_run(watcher, json.loads(out.strip().splitlines()[-1]), user, message, client)
            assert "event message:new" in err  # the example prints the events it receives
    finally:
        await watcher.close()


async def test_examples_report_a_wrong_password_clearly(http: httpx.AsyncClient, live_server: LiveServer) -> None:
    node = ensure_node_packages(EXAMPLES / "js", probe="@connectnow/client")
    user = await register(http, unique_name("wp"))
    env = client_env(live_server, user["user"]["username"], "0" * 24, "0" * 24, "x")
    env["CN_PASSWORD"] = "wrong password here"
    for cmd, cwd in (
        ([sys.executable, str(EXAMPLES / "python" / "chat_client.py")], EXAMPLES / "python"),
        ([node, "chat_client.mjs"], EXAMPLES / "js"),
    ):
        code, out, err = await run(cmd, cwd=cwd, env=env, timeout=CLIENT_TIMEOUT_SECS)
        assert code != 0 and "AUTH_INVALID_CREDENTIALS" in err, (out, err)
