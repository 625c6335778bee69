"""Benchmark 7, concurrent senders (issue 11): two workers over Redis, several senders in one channel.

Each sender sends closed loop (the next message when the last is acknowledged) for the step's duration; a
few watchers in the same channel record every `message:new` as it arrives. Reported: acknowledged messages/s,
acknowledgement p50/p99, the server's CPU per stored message (both workers), and per watcher the deliveries
that arrived after a later `eventSeq` (out-of-order) and the `eventSeq`s never delivered live (missed; a
client following the rule in docs/PROTOCOL.md fills those with `sync`). python-socketio clients: this
measures order and throughput of the message path, not the client's CPU.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import socketio

from bench.fleet import RoomSpec
from bench.servers import Server
from bench.stats import latency_summary

SENDERS = 8
WATCHERS = 2
SETTLE_SECS = 1.5  # after the last send, for the last deliveries to arrive


async def _connect(url: str, token: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return client


async def _run(server: Server, room: RoomSpec, seconds: float) -> dict[str, Any]:
    tokens = room.members
    if len(tokens) < SENDERS + WATCHERS:
        raise ValueError(f"the room needs {SENDERS + WATCHERS} members")
    base = f"http://127.0.0.1:{server.port}"  # python-socketio builds the Engine.IO path itself
    arrivals: list[list[int]] = [[] for _ in range(WATCHERS)]
    watchers = []
    for index in range(WATCHERS):
        client = await _connect(base, tokens[SENDERS + index])

        def record(data: Any, into: list[int] = arrivals[index]) -> None:
            if isinstance(data, dict) and data.get("channelId") == room.room:
                into.append(int(data["eventSeq"]))

        client.on("message:new", record)
        watchers.append(client)
    senders = [await _connect(base, tokens[i]) for i in range(SENDERS)]
    acks: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def send_loop(client: socketio.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.monotonic()
            body = {"channelId": room.room, "content": "x" * 200, "clientMsgId": uuid.uuid4().hex}
            answer = await client.call("message:send", body, timeout=30)
            if answer.get("ok"):
                acks.append(time.monotonic() - started)
            else:
                errors += 1

    began, cpu0 = time.monotonic(), server.cpu_seconds()
    await asyncio.gather(*(send_loop(c) for c in senders))
    elapsed, cpu = time.monotonic() - began, server.cpu_seconds() - cpu0
    await asyncio.sleep(SETTLE_SECS)
    for client in [*senders, *watchers]:
        await client.disconnect()
    per_watcher = []
    for seen in arrivals:
        inversions = sum(1 for x, y in itertools.pairwise(seen) if y < x)
        expected = set(range(min(seen), max(seen) + 1)) if seen else set()
        per_watcher.append({"delivered": len(seen), "outOfOrder": inversions, "missed": len(expected - set(seen))})
    return {
        "messagesPerS": round(len(acks) / elapsed, 1),
        "ack": latency_summary(acks),
        "ackErrors": errors,
        # both workers' CPU over the sends, per stored message (fan-out to the watchers included)
        "cpuUsPerStoredMessage": round(cpu / len(acks) * 1e6, 1) if acks else None,
        "senders": SENDERS,
        "watchers": per_watcher,
        "outOfOrder": sum(w["outOfOrder"] for w in per_watcher),
        "missed": sum(w["missed"] for w in per_watcher),
    }


def run(server: Server, room: RoomSpec, seconds: float) -> dict[str, Any]:
    return asyncio.run(_run(server, room, seconds))
