"""A fleet of load-generator processes attached to one server, driven step by step."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import quote

from bench.loadgen import ClientSpec, process_main
from bench.servers import Server
from bench.stats import latency_summary

GRACE_MAX_S = 2.0  # after the last send, wait at most this long for stragglers (later counts as lost)


@dataclass
class RoomSpec:
    room: str  # channel id (ConnectNow) or room name (baselines); the same ids are used for every server
    members: list[str]  # ConnectNow access tokens (baselines ignore them)


def client_specs(server: Server, rooms: list[RoomSpec], sockets_per_member: int = 1) -> list[ClientSpec]:
    specs = []
    for room in rooms:
        for index, token in enumerate(room.members):
            for copy in range(sockets_per_member):
                if server.protocol == "raw":
                    url, auth = f"{server.url}?room={quote(room.room)}", None
                elif server.send_kind == "connectnow":
                    url, auth = server.url, {"token": token}
                else:
                    url, auth = server.url, {"room": room.room}
                specs.append(ClientSpec(url=url, room=room.room, auth=auth, sender=index == 0 and copy == 0))
    return specs


class Fleet:
    def __init__(self, server: Server, specs: list[ClientSpec], processes: int) -> None:
        self.server = server
        ctx = multiprocessing.get_context("spawn")
        shares: list[list[ClientSpec]] = [[] for _ in range(processes)]
        for i, spec in enumerate(specs):
            shares[i % processes].append(spec)
        self.shares = [s for s in shares if s]
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for share in self.shares:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=process_main, args=(theirs, share, server.protocol, server.send_kind), daemon=True
            )
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)
        self._step = 0
        self.connected_per_room: dict[str, int] = {}

    def _all(self, command: str, per_process: list[dict[str, Any]]) -> list[Any]:
        for pipe, args in zip(self.pipes, per_process, strict=True):
            pipe.send((command, args))
        return [pipe.recv() for pipe in self.pipes]

    def connect(self) -> dict[str, Any]:
        answers = self._all("connect", [{} for _ in self.pipes])
        for a in answers:
            for room, n in a["perRoom"].items():
                self.connected_per_room[room] = self.connected_per_room.get(room, 0) + n
        return {
            "connected": sum(a["connected"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "errors": [e for a in answers for e in a["errors"]][:5],
            "seconds": round(max(a["seconds"] for a in answers), 2),
        }

    def run_step(self, rate: float, duration: float, rooms: list[str], window: int = 0) -> dict[str, Any]:
        """Send `rate` msgs/s for `duration` s from the senders of `rooms`; each message should reach every
        connected member of its room (a client that could not connect is reported, not counted as lost)."""
        self._step += 1
        step = self._step
        wanted = set(rooms)
        senders = [sum(1 for s in share if s.sender and s.room in wanted) for share in self.shares]
        total_senders = max(1, sum(senders))
        cpu0, t0 = self.server.cpu_seconds(), time.monotonic()
        sent = self._all(
            "step",
            [
                {"step": step, "rate": rate * n / total_senders, "duration": duration, "window": window, "rooms": rooms}
                for n in senders
            ],
        )
        n_sent = sum(a["sent"] for a in sent)
        expected = sum(n * self.connected_per_room.get(room, 0) for a in sent for room, n in a["perRoom"].items())
        latencies, acks, errors = self._wait_and_collect(step, expected)
        cpu = self.server.cpu_seconds() - cpu0
        elapsed = time.monotonic() - t0
        received = len(latencies)
        return {
            "rateMsgsPerS": round(rate, 1),
            "sent": n_sent,
            "expectedDeliveries": expected,
            "deliveries": received,
            "lost": max(0, expected - received),
            "deliveriesPerS": round(received / duration, 1),
            "serverCpuUsPerDelivery": round(cpu / received * 1e6, 2) if received else None,
            "serverCpuShare": round(cpu / elapsed, 3),
            "serverCpuSeconds": round(cpu, 4),
            "senderBehindMaxMs": round(max(a["behind"] for a in sent) * 1000, 1),
            "latency": latency_summary(latencies),
            "ack": latency_summary(acks) if acks else None,
            "ackErrors": errors,
        }

    def collect_until(self, step: int, expected: int, timeout: float) -> tuple[list[float], list[float], int]:
        """What arrived for a step the server sends by itself (scheduled deliveries)."""
        return self._wait_and_collect(step, expected, timeout)

    def _wait_and_collect(
        self, step: int, expected: int, grace: float = GRACE_MAX_S
    ) -> tuple[list[float], list[float], int]:
        deadline = time.monotonic() + grace
        latencies: list[float] = []
        acks: list[float] = []
        errors = 0
        while True:
            time.sleep(0.25)
            answers = self._all("collect", [{"step": step} for _ in self.pipes])
            for a in answers:
                latencies += a["latencies"]
                acks += a["acks"]
                errors += a["ackErrors"]
            pending = sum(a["pendingAcks"] for a in answers)
            if (len(latencies) >= expected and pending == 0) or time.monotonic() > deadline:
                return latencies, acks, errors

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("close", {}))
            except (BrokenPipeError, OSError):
                continue
        for pipe in self.pipes:
            try:
                if pipe.poll(20):
                    pipe.recv()
            except (EOFError, OSError):
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
