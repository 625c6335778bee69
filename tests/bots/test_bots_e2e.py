"""The example bots in examples/bots/ against a live server: the echo/command bot (including a reconnect with
messages sent while it was away) and the webhook-to-channel relay (idempotent deliveries)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bots.world import make_world, post, replies, wait_replies
from tests.support.clients import bearer
from tests.support.live_server import LiveServer
from tests.support.redis_server import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
BOTS = ROOT / "examples" / "bots"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer.start(tmp_path / "bots")
    try:
        yield live
    finally:
        live.stop()


@dataclass
class Example:
    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)

    async def wait_line(self, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for line in self.lines:
                if predicate(line):
                    return line
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        stderr = await self.process.stderr.read(20_000) if self.process.stderr and self.process.returncode else b""
        raise AssertionError(f"no matching line within {timeout}s; got {self.lines}; {stderr.decode()}")


@asynccontextmanager
async def run_example(script: str, env: dict[str, str]) -> AsyncIterator[Example]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTNOW_", "CN_"))}
    full_env.update(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(BOTS / script), env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    example = Example(process)

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            example.lines.append(json.loads(line))

    reader = asyncio.create_task(read())
    try:
        yield example
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader


async def test_echo_bot_answers_commands_in_threads_and_catches_up_after_a_reconnect(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        world = await make_world(server, http)
        env = {"CONNECTNOW_URL": server.base_url, "CN_API_KEY": world.api_key, "CN_CHANNEL_ID": world.channel_id,
               "CN_RECONNECT_DELAY": "2.0"}  # fmt: skip
        async with run_example("echo_bot.py", env) as bot:
            await bot.wait_line(lambda line: line.get("ready"))
            hello = await post(world, "hello there")
            [answer] = await wait_replies(world, hello["id"])
            assert answer["content"] == "echo: hello there"
            assert answer["userId"] == world.bot_user["user"]["id"] and answer["isBot"] is True
            deploy = await post(world, "/deploy api prod")
            [answer] = await wait_replies(world, deploy["id"])
            assert answer["content"] == "deploying api to prod"
            reactions = await http.get(f"/api/v1/messages/{deploy['id']}/reactions", headers=bearer(world.api_key))
            assert [(r["emoji"], r["userIds"]) for r in reactions.json()] == [
                (":rocket:", [world.bot_user["user"]["id"]])
            ]

            # A direct message gets its answer in the conversation.
            opened = await http.post("/api/v1/direct/conversations", json={"userId": world.bot_user["user"]["id"]},
                                     headers=bearer(world.alice["accessToken"]))  # fmt: skip
            assert opened.status_code == 200, opened.text
            dm_path = f"/api/v1/direct/conversations/{opened.json()['id']}/messages"
            hi = await http.post(dm_path, json={"content": "hi bot", "clientMsgId": "dm-hi"},
                                 headers=bearer(world.alice["accessToken"]))  # fmt: skip
            assert hi.status_code == 201, hi.text
            await bot.wait_line(lambda line: line.get("handled") == hi.json()["id"])
            conversation = await http.get(dm_path, headers=bearer(world.alice["accessToken"]))
            assert [(m["content"], m["senderId"] == world.bot_user["user"]["id"]) for m in conversation.json()] == [
                ("hi bot", False),
                ("echo: hi bot", True),
            ]

            # An operator closes the bot's sockets; what is said meanwhile reaches it only through recovery.
            cut = await http.post(
                "/api/v1/admin/actions",
                json={"action": "disconnect", "userId": world.bot_user["user"]["id"]},
                headers=bearer(world.admin_token),
            )
            assert cut.status_code == 200, cut.text
            missed = [await post(world, f"while you were away {i}") for i in range(3)]
            missed.append(await post(world, "/echo back again"))
            answers = [await wait_replies(world, m["id"]) for m in missed]
            assert [[a["content"] for a in found] for found in answers] == [
                ["echo: while you were away 0"],
                ["echo: while you were away 1"],
                ["echo: while you were away 2"],
                ["back again"],
            ]
            # The bot reports a message after posting its reply: the reply can be visible before the line is.
            handled = [await bot.wait_line(lambda line, m=m: line.get("handled") == m["id"]) for m in missed]
            assert all(line["reconnects"] == 1 for line in handled), bot.lines
            # Still exactly one answer each a moment later, and the bot never answered itself.
            await asyncio.sleep(1.0)
            for message in [hello, deploy, *missed]:
                assert len(await replies(world, message["id"])) == 1
            history = await http.get(
                f"/api/v1/channels/{world.channel_id}/messages", params={"limit": 100}, headers=bearer(world.api_key)
            )
            bot_id = world.bot_user["user"]["id"]
            from_bot = [m for m in history.json() if m["userId"] == bot_id and m["type"] != "SYSTEM"]
            assert len(from_bot) == 2 + len(missed) and all(m["parentId"] for m in from_bot), from_bot


async def test_webhook_relay_posts_each_delivery_once(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        world = await make_world(server, http)
        port = free_port()
        env = {"CONNECTNOW_URL": server.base_url, "CN_API_KEY": world.api_key, "CN_CHANNEL_ID": world.channel_id,
               "CN_RELAY_SECRET": "s3cret-hook", "CN_RELAY_PORT": str(port)}  # fmt: skip
        async with (
            run_example("webhook_relay.py", env) as relay,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as hooks,
        ):
            await relay.wait_line(lambda line: line.get("ready"))
            headers = {"X-Relay-Secret": "s3cret-hook", "X-Delivery-Id": "build-812"}
            first = await hooks.post("/hook", json={"text": "build 812 passed"}, headers=headers)
            again = await hooks.post("/hook", json={"text": "build 812 passed"}, headers=headers)
            assert first.status_code == 202 and again.status_code == 202, (first.text, again.text)
            assert first.json()["messageId"] == again.json()["messageId"]
            other = await hooks.post("/hook", json={"text": "deploy done", "id": "deploy-9"}, headers=headers | {
                "X-Delivery-Id": ""})  # fmt: skip
            assert other.status_code == 202
            wrong = await hooks.post("/hook", json={"text": "forged"}, headers={"X-Relay-Secret": "guess"})
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "AUTH_REQUIRED"
            empty = await hooks.post("/hook", json={"text": " "}, headers=headers)
            assert empty.status_code == 422 and empty.json()["error"]["code"] == "VALIDATION_FAILED"
            history = await http.get(
                f"/api/v1/channels/{world.channel_id}/messages", headers=bearer(world.alice["accessToken"])
            )
            assert [(m["content"], m["isBot"]) for m in history.json() if m["type"] != "SYSTEM"] == [
                ("build 812 passed", True),
                ("deploy done", True),
            ]
