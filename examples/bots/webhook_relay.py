"""A webhook-to-channel relay on connectnow_client (clients/python): POST JSON to it, it posts to a channel.

    POST /hook   X-Relay-Secret: <CN_RELAY_SECRET>   X-Delivery-Id: <id>   {"text": "build 812 passed"}
    -> 202 {"messageId": "..."}

The delivery id (from the header, or `id` in the body) becomes the message's clientMsgId, so a sender that
retries a delivery (most webhook senders do) never posts twice: the repeat answers the same messageId. Rate
limits are waited out (the client honours `retryAfter`). Environment: CONNECTNOW_URL, CN_API_KEY,
CN_CHANNEL_ID, CN_RELAY_SECRET, CN_RELAY_PORT (default 8787), CN_RELAY_HOST (default 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sys
from typing import Any

from aiohttp import web
from connectnow_client import Client, ConnectNowError

MAX_TEXT_CHARS = 4000
MAX_BODY_BYTES = 64 * 1024
CLIENT = web.AppKey("client", Client)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"set {name}")
    return value


def refuse(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": {"code": code, "message": message}}, status=status)


async def hook(request: web.Request) -> web.Response:
    secret = env("CN_RELAY_SECRET").encode()
    given = request.headers.get("X-Relay-Secret", "").encode()
    if not hmac.compare_digest(given, secret):
        return refuse(401, "AUTH_REQUIRED", "wrong or missing X-Relay-Secret")
    raw = await request.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return refuse(400, "VALIDATION_FAILED", "the body is not JSON")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
        return refuse(422, "VALIDATION_FAILED", f'send {{"text": "..."}} with 1 to {MAX_TEXT_CHARS} characters')
    delivery = request.headers.get("X-Delivery-Id") or str(body.get("id") or "")
    # Without a delivery id the body itself identifies the delivery: the same payload again is a repeat.
    key = "hook-" + hashlib.sha256((delivery or raw.decode("utf-8", "replace")).encode()).hexdigest()[:40]
    try:
        message = await request.app[CLIENT].send_message(env("CN_CHANNEL_ID"), text, client_msg_id=key)
    except ConnectNowError as exc:
        return refuse(exc.status or 502, exc.code, exc.message)
    print(json.dumps({"relayed": message.id, "delivery": delivery}), flush=True)
    return web.json_response({"messageId": message.id}, status=202)


async def main() -> None:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CLIENT] = Client(env("CONNECTNOW_URL"), api_key=env("CN_API_KEY"))
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, env("CN_RELAY_HOST", "127.0.0.1"), int(env("CN_RELAY_PORT", "8787")))
    await site.start()
    print(json.dumps({"ready": True}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await app[CLIENT].close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
