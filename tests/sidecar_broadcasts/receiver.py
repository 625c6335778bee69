"""A real local HTTP server standing in for an SMS/e-mail gateway: aiohttp.web on a free port.

Paths choose the behaviour: /ok answers 200, /fail answers 500, /reject answers 400, /slow answers after
`slow_seconds`, /hang-first never answers the first request it receives (and 200 afterwards). A second,
raw asyncio server accepts connections and never answers at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Received:
    path: str
    delivery_id: str
    signature: str
    body: bytes
    host: str = ""

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    slow_seconds: float = 2.0
    requests: list[Received] = field(default_factory=list)
    answered: list[Received] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0
    hung: asyncio.Event = field(default_factory=asyncio.Event)
    _silent: asyncio.Server | None = None
    silent_port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def silent_url(self) -> str:
        return f"http://127.0.0.1:{self.silent_port}/never"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        got = Received(
            request.path,
            request.headers.get("X-ConnectNow-Delivery", ""),
            request.headers.get("X-ConnectNow-Signature", ""),
            body,
            request.headers.get("Host", ""),
        )
        first = not self.requests
        self.requests.append(got)
        if request.path == "/fail":
            return web.Response(status=500, text="gateway down")
        if request.path == "/reject":
            return web.Response(status=400, text="bad number")
        if request.path == "/slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.slow_seconds)
        if request.path == "/hang-first" and first:
            self.hung.set()
            await self._closing.wait()
        self.answered.append(got)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            await reader.read(65536)
            await self._closing.wait()
            writer.close()

        self._silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        self.silent_port = self._silent.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._closing.set()
        for writer in self._writers:
            writer.close()
        # Wait for each silent connection's socket to close now: Python 3.11's Server.wait_closed() returns
        # without waiting for connections, and a transport still open when the test's loop ends is closed
        # only by the garbage collector, with a ResourceWarning in whatever test runs then.
        for writer in self._writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self._silent is not None:
            self._silent.close()
            await self._silent.wait_closed()
        if self.runner is not None:
            await self.runner.cleanup()


def verify(secret: bytes, received: Received) -> bool:
    parts = dict(item.split("=", 1) for item in received.signature.split(","))
    expected = hmac.new(secret, parts["t"].encode() + b"." + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])
