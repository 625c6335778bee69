"""ConnectNow example client (python-socketio): log in, join a channel, send, react, read history, and follow
the channel's event stream by the client rule (event_stream.py; docs/PROTOCOL.md, "Event streams").

Settings come from the environment; see examples/README.md. Needs `python-socketio[asyncio_client]` and
`aiohttp`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

import aiohttp
import socketio
from event_stream import EventStream

ACK_TIMEOUT_SECS = 10
STREAM_WAIT_SECS = 10
CHANNEL_EVENTS = ("message:new", "message:updated", "message:deleted", "message:pinned", "message:unpinned",
                  "reaction:added", "reaction:removed", "thread:updated")  # fmt: skip


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"set {name}")
    return value


class ApiError(Exception):
    pass


async def login(base_url: str, login_name: str, password: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base_url}/api/v1/auth/login", json={"login": login_name, "password": password})
        body: dict[str, Any] = await response.json()
    if response.status != 200:
        raise ApiError(f"login failed: {body['error']['code']} {body['error']['message']}")
    return body


async def call(sio: socketio.AsyncClient, event: str, payload: Any, *, allow: tuple[str, ...] = ()) -> Any:
    """Every client-to-server event is acknowledged with {ok, data} or {ok: false, error}."""
    answer = await sio.call(event, payload, timeout=ACK_TIMEOUT_SECS)
    if answer["ok"]:
        return answer["data"]
    if answer["error"]["code"] in allow:
        return None
    raise ApiError(f"{event}: {answer['error']['code']} {answer['error']['message']}")


async def main() -> None:
    base_url = env("CONNECTNOW_URL")
    workspace_id, channel_id = env("CN_WORKSPACE_ID"), env("CN_CHANNEL_ID")
    tokens = await login(base_url, env("CN_LOGIN"), env("CN_PASSWORD"))
    sio = socketio.AsyncClient(reconnection=False)

    stream = EventStream()
    applied: list[int] = []  # the eventSeqs this client applied, in order

    @sio.on("*")
    async def on_any(event: str, data: Any = None) -> None:
        print(f"event {event} {json.dumps(data)}", file=sys.stderr)
        if event in CHANNEL_EVENTS and isinstance(data, dict) and data.get("channelId") == channel_id:
            applied.extend(e["eventSeq"] for e in stream.on_event(data))

    async def sync() -> None:
        answer = await call(sio, "sync", {"conversations": [{"kind": "channel", "id": channel_id,
                                                             "lastEventSeq": stream.mark}]})  # fmt: skip
        _changed, events = stream.on_sync(answer[0])  # a real client shows `_changed` in their current state
        applied.extend(e["eventSeq"] for e in events)

    async def caught_up(event_seq: int) -> None:
        """Wait until every change up to `event_seq` is applied, syncing over any hole."""
        deadline = asyncio.get_running_loop().time() + STREAM_WAIT_SECS
        while stream.mark < event_seq:
            if asyncio.get_running_loop().time() > deadline:
                raise ApiError(f"the channel's events did not arrive up to {event_seq}")
            if stream.needs_sync():
                await sync()
            await asyncio.sleep(0.05)

    # The token goes in the Socket.IO auth payload, never in the URL.
    await sio.connect(base_url, auth={"token": tokens["accessToken"]}, transports=["websocket"])
    try:
        await call(sio, "workspace:join", {"workspaceId": workspace_id}, allow=("ALREADY_MEMBER",))
        await call(sio, "channel:join", {"channelId": channel_id}, allow=("ALREADY_MEMBER",))
        await sync()  # the starting mark: the channel's latest eventSeq
        sent = await call(
            sio,
            "message:send",
            {
                "channelId": channel_id,
                "content": env("CN_MESSAGE", "hello from the Python example"),
                "clientMsgId": f"py-{uuid.uuid4()}",
            },
        )
        reactions = await call(sio, "reaction:add", {"messageId": sent["message"]["id"], "emoji": "👍"})
        await caught_up(sent["message"]["lastEventSeq"] + 1)  # our message and our reaction, in order
        history = await call(sio, "message:history", {"channelId": channel_id, "limit": 20})
        result = {
            "client": "python",
            "userId": tokens["user"]["id"],
            "messageId": sent["message"]["id"],
            "seq": sent["message"]["seq"],
            "eventSeq": sent["message"]["lastEventSeq"],
            "mark": stream.mark,
            "applied": applied,
            "reactions": reactions,
            "history": [
                {"id": m["id"], "seq": m["seq"], "content": m["content"], "userId": m["userId"]} for m in history
            ],
        }
        print(json.dumps(result, ensure_ascii=False))
    finally:
        await sio.disconnect()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ApiError as exc:
        raise SystemExit(str(exc)) from None
