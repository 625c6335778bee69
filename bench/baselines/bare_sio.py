"""Baseline (b): a bare python-socketio server on the same stack as ConnectNow (uvicorn, uvloop, httptools,
websockets-sansio, no per-message deflate) that broadcasts with no auth, no validation and no storage.

A client connects with auth `{"room": R}` and is put in room R; event `send` `{"channelId", "content"}` is
emitted to the room as `message:new`.
"""

from __future__ import annotations

import sys
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], logger=False, engineio_logger=False)


@sio.on("connect")
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    room = auth.get("room") if isinstance(auth, dict) else None
    if isinstance(room, str):
        await sio.enter_room(sid, room)


@sio.on("send")
async def send(sid: str, data: Any) -> None:
    await sio.emit("message:new", data, room=data["channelId"])


app = socketio.ASGIApp(sio)

if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
        ws="websockets-sansio", ws_per_message_deflate=False, ws_ping_interval=None, log_level="warning", backlog=4096,
    )  # fmt: skip
