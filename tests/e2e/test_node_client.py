"""The official Node.js client, socket.io-client 4, against a live ConnectNow server on every transport
(issue 13): long-polling only, WebSocket only, and the default (polling, then the upgrade to WebSocket).

Each run: the Node client connects, sends messages with acknowledgements while a python-socketio client
sends a burst into the same channel; the Node client must get every message once, in the order every other
socket got them. `npm install` of tests/e2e/node runs on first use (node and npm are required, as for
examples/js: without them this test fails with a clear message)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import Person, register, unique_name
from tests.support.live_server import LiveServer, server_http, shared_server
from tests.support.node import ensure_node_packages
from tests.support.rooms import public_general, wait_count

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_SENDS = 10
PYTHON_BURST = 40  # more than python-engineio's client takes in one poll answer: the Node client has no such cap


@pytest.fixture(scope="module")
def node() -> str:
    return ensure_node_packages(NODE_DIR)


server = shared_server("nodeclient", rate_send_burst="1000", rate_send_per_second="1000")
http = server_http()


async def run_node(node: str, *args: str) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader]:
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "official_client.cjs"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    return process, process.stdout


@pytest.mark.parametrize("mode", ["polling", "websocket", "default"])
async def test_official_client_on_every_transport(
    mode: str, node: str, server: LiveServer, http: httpx.AsyncClient
) -> None:
    alice, nora = [Person(await register(http, unique_name("n"))) for _ in range(2)]
    general = await public_general(http, alice, [nora])
    await alice.connect(server)
    total = NODE_SENDS + PYTHON_BURST
    process, out = await run_node(node, server.base_url, nora.token, general, mode, str(NODE_SENDS), str(total))
    try:
        async with asyncio.timeout(30):
            first = (await out.readline()).decode().strip()
        assert first == "connected", (first, (await process.communicate())[1].decode())
        burst: list[Any] = await asyncio.gather(
            *(
                alice.ok("message:send", {"channelId": general, "content": f"py{i}", "clientMsgId": f"py{mode}{i}"})
                for i in range(PYTHON_BURST)
            )
        )
        async with asyncio.timeout(45):
            rest, err = await process.communicate()
        report = json.loads(rest.decode().strip().splitlines()[-1])
        assert process.returncode == 0 and not report["failures"], (report, err.decode())
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await alice.sock.close()
    assert report["acked"] == NODE_SENDS
    assert report["transport"] == ("polling" if mode == "polling" else "websocket")
    assert report["upgraded"] == (mode == "default")
    # Every message once, in the order the python-socketio socket saw them.
    seen = await wait_count(alice, general, total, lambda d: True)
    assert len(set(report["seqs"])) == total == len(report["seqs"])
    assert {b["message"]["seq"] for b in burst} <= set(report["seqs"])
    assert report["seqs"] == [d["seq"] for d in seen]
