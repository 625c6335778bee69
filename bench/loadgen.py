"""A load-generator process: holds many WebSocket clients, sends open-loop, records what arrives.

The orchestrator talks to each process over a `multiprocessing` pipe with small commands:
`connect`, `step` (send for a while at a rate), `collect` (what arrived for a step), `close`. Sending is
open-loop: message i of a step is due at t0 + i/rate whatever happened before, and every latency is measured
from that intended time, so a server that stalls cannot hide the queue it built (coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench import proto

CONNECT_CONCURRENCY = 64  # simultaneous handshakes per process (a burst of thousands times out)
CONNECT_TIMEOUT_S = 60.0
CONNECT_ATTEMPTS = 3


@dataclass
class ClientSpec:
    url: str  # ws://host:port/path
    room: str  # the benchmark room this client is in (the server puts it there)
    auth: dict[str, str] | None = None  # Socket.IO auth payload; None for the raw WebSocket protocol
    sender: bool = False


@dataclass
class Client:
    spec: ClientSpec
    ws: ClientConnection
    reader: asyncio.Task[None] | None = None


@dataclass
class Recorder:
    """Per step: deliveries and their lateness from the intended send time (seconds)."""

    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    acks: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    ack_errors: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    pending_acks: dict[int, tuple[int, float]] = field(default_factory=dict)
    acked: asyncio.Event = field(default_factory=asyncio.Event)  # wakes a closed-loop sender

    def frame(self, frame: str, now: float) -> None:
        if frame.startswith("43"):
            ack_id = proto.sio_ack_id(frame)
            sent = self.pending_acks.pop(ack_id, None) if ack_id is not None else None
            if sent is not None:
                self.acked.set()
                step, intended = sent
                self.acks[step].append(now - intended)
                if '"ok":false' in frame[:40]:
                    self.ack_errors[step] += 1
            return
        if not frame.startswith(proto.NEW_MESSAGE):  # e.g. broadcast:status also quotes the text
            return
        mark = proto.parse_marker(frame)
        if mark is not None:
            self.latencies[mark[0]].append(now - mark[1])


class LoadGenerator:
    def __init__(self, specs: list[ClientSpec], protocol: str, send_kind: str) -> None:
        self.specs = specs
        self.protocol = protocol  # "raw" or "sio"
        self.send_kind = send_kind  # "raw", "bare" (event "send", no ack) or "connectnow" (message:send + ack)
        self.clients: list[Client] = []
        self.recorder = Recorder()
        self.failed = 0
        self._ack_ids = 0
        # clientMsgId must be new across runs on one database: a repeated one is a replay, never fanned out.
        self._nonce = secrets.token_hex(4)

    async def connect_all(self) -> dict[str, Any]:
        started = time.monotonic()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        errors: list[str] = []

        async def one(spec: ClientSpec) -> None:
            async with gate:
                for attempt in range(CONNECT_ATTEMPTS):
                    try:
                        client = await asyncio.wait_for(self._open(spec), CONNECT_TIMEOUT_S)
                        break
                    except Exception as exc:  # any failure is retried, then counted and reported
                        if attempt == CONNECT_ATTEMPTS - 1:
                            self.failed += 1
                            errors.append(repr(exc)[:200])
                            return
                        await asyncio.sleep(0.2 * (attempt + 1))
                client.reader = asyncio.create_task(self._read(client))
                self.clients.append(client)

        await asyncio.gather(*(one(s) for s in self.specs))
        per_room: dict[str, int] = defaultdict(int)
        for client in self.clients:
            per_room[client.spec.room] += 1
        return {
            "connected": len(self.clients),
            "failed": self.failed,
            "errors": errors[:5],
            "seconds": time.monotonic() - started,
            "perRoom": dict(per_room),
        }

    async def _open(self, spec: ClientSpec) -> Client:
        ws = await connect(
            spec.url, compression=None, max_size=None, open_timeout=CONNECT_TIMEOUT_S, ping_interval=None
        )
        if self.protocol == "sio":
            opened = await ws.recv()
            if not str(opened).startswith("0"):
                raise RuntimeError(f"unexpected open packet {opened!r}")
            await ws.send(proto.sio_connect(spec.auth or {}))
            while True:
                frame = str(await ws.recv())
                if frame.startswith("40"):
                    break
                if frame.startswith("44"):
                    await ws.close()
                    raise RuntimeError(f"connect refused: {frame}")
        return Client(spec=spec, ws=ws)

    async def _read(self, client: Client) -> None:
        ws, record = client.ws, self.recorder.frame
        with contextlib.suppress(Exception):
            async for frame in ws:
                if frame == "2":
                    await ws.send("3")
                    continue
                record(str(frame), time.time())

    def _frame(self, client: Client, step: int, intended: float) -> str:
        body = proto.content(step, intended)
        room = client.spec.room
        if self.send_kind == "raw":
            return f"P|{room}|{body}"
        if self.send_kind == "bare":
            return proto.sio_event("send", {"channelId": room, "content": body})
        self._ack_ids += 1
        self.recorder.pending_acks[self._ack_ids] = (step, intended)
        data = {"channelId": room, "content": body, "clientMsgId": f"b{self._nonce}-{step}-{self._ack_ids}"}
        return proto.sio_event("message:send", data, self._ack_ids)

    async def step(self, step: int, rate: float, duration: float, rooms: list[str], window: int = 0) -> dict[str, Any]:
        """Send `rate` messages/s for `duration` s round-robin over this process's senders (open loop).

        `window` > 0 switches to closed loop with that many unacknowledged messages (the ingest test)."""
        wanted = set(rooms)
        senders = [c for c in self.clients if c.spec.sender and c.spec.room in wanted]
        if not senders or rate <= 0:
            await asyncio.sleep(duration)
            return {"sent": 0, "behind": 0.0, "perRoom": {}}
        if window:
            return await self._closed_loop(senders, step, duration, window)
        total = int(rate * duration)
        per_room: dict[str, int] = defaultdict(int)
        t0 = time.time() + 0.05
        worst_behind = 0.0
        for i in range(total):
            intended = t0 + i / rate
            delay = intended - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                worst_behind = max(worst_behind, -delay)
            client = senders[i % len(senders)]
            per_room[client.spec.room] += 1
            with contextlib.suppress(Exception):
                await client.ws.send(self._frame(client, step, intended))
        return {"sent": total, "behind": worst_behind, "perRoom": dict(per_room)}

    async def _closed_loop(self, senders: list[Client], step: int, duration: float, window: int) -> dict[str, Any]:
        """At most `window` unacknowledged messages; latency from each actual send (the ingest test)."""
        deadline = time.time() + duration
        sent = 0
        per_room: dict[str, int] = defaultdict(int)
        while time.time() < deadline:
            while len(self.recorder.pending_acks) >= window:
                self.recorder.acked.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.recorder.acked.wait(), 1.0)
            client = senders[sent % len(senders)]
            per_room[client.spec.room] += 1
            with contextlib.suppress(Exception):
                await client.ws.send(self._frame(client, step, time.time()))
            sent += 1
        return {"sent": sent, "behind": 0.0, "perRoom": dict(per_room)}

    def collect(self, step: int) -> dict[str, Any]:
        rec = self.recorder
        return {
            "latencies": rec.latencies.pop(step, []),
            "acks": rec.acks.pop(step, []),
            "ackErrors": rec.ack_errors.pop(step, 0),
            "pendingAcks": sum(1 for s, _ in rec.pending_acks.values() if s == step),
        }

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.ws.close()
            if client.reader is not None:
                client.reader.cancel()
        self.clients.clear()


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_main(pipe: Connection, specs: list[ClientSpec], protocol: str, send_kind: str) -> None:
    """Entry point of a load-generator process (multiprocessing, spawn)."""
    import uvloop

    raise_fd_limit()
    uvloop.run(_serve(pipe, LoadGenerator(specs, protocol, send_kind)))


async def _serve(pipe: Connection, gen: LoadGenerator) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            answer: Any = await gen.connect_all()
        elif command == "step":
            answer = await gen.step(**args)
        elif command == "collect":
            answer = gen.collect(args["step"])
        elif command == "close":
            await gen.close()
            pipe.send({"closed": True})
            return
        else:
            answer = {"error": f"unknown command {command}"}
        pipe.send(answer)
