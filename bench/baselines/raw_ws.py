"""Baseline (a), the ceiling: a minimal WebSocket broadcaster that writes one pre-encoded frame per message.

`ws://host:port/?room=R` joins room R. A text frame `P|room|content` is broadcast to every socket in the room
as the same bytes a Socket.IO client would receive (`42["message:new",{...}]`), encoded once. No auth, no
storage, no protocol: the cost of the WebSocket writes alone. Also the bare server of the memory benchmark.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from urllib.parse import parse_qs, urlparse

import orjson
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    query = parse_qs(urlparse(ws.request.path if ws.request else "/").query)
    room = query.get("room", ["lobby"])[0]
    rooms[room].add(ws)
    try:
        async for frame in ws:
            if isinstance(frame, str) and frame.startswith("P|"):
                _, target, content = frame.split("|", 2)
                data = orjson.dumps(["message:new", {"channelId": target, "content": content}]).decode()
                broadcast(rooms.get(target, ()), "42" + data)
    finally:
        rooms[room].discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20, ping_interval=None, backlog=4096):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
