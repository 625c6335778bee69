"""Benchmark 5, memory: resident memory per idle connection, ConnectNow against a bare WebSocket server.

For each count the server starts fresh; its RSS (with any worker children) is read once it is idle, then
again after that many clients connected and settled. The difference over the count is the cost of one idle
connection. The benchmark users are reused (several sockets per user) when the count exceeds them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from bench.fleet import Fleet, RoomSpec, client_specs
from bench.profiles import Profile
from bench.servers import Server
from bench.stats import ratio

SETTLE_S = 2.0  # after the last connect: let allocators and the presence heartbeat settle


def per_connection(start: Callable[[], Server], rooms: list[RoomSpec], count: int, processes: int) -> dict[str, Any]:
    server = start()
    try:
        time.sleep(SETTLE_S)
        before = server.rss_bytes()
        members = sum(len(r.members) for r in rooms)
        specs = client_specs(server, rooms, sockets_per_member=math.ceil(count / members))[:count]
        for spec in specs:
            spec.sender = False
        fleet = Fleet(server, specs, processes)
        try:
            connected = fleet.connect()
            time.sleep(SETTLE_S)
            after = server.rss_bytes()
        finally:
            fleet.close()
    finally:
        server.stop()
    n = max(1, connected["connected"])
    return {
        "count": count,
        "connected": connected["connected"],
        "failed": connected["failed"],
        "connectSeconds": connected["seconds"],
        "rssBeforeMiB": round(before / 2**20, 1),
        "rssAfterMiB": round(after / 2**20, 1),
        "kibPerConnection": round((after - before) / n / 1024, 2),
    }


def run(
    start_cn: Callable[[], Server],
    start_raw: Callable[[], Server],
    start_bare: Callable[[], Server],
    rooms: list[RoomSpec],
    profile: Profile,
    start_before: Callable[[], Server] | None = None,
) -> dict[str, Any]:
    """Per count: the raw WebSocket server (the baseline), bare python-socketio (what the stack costs before
    ConnectNow's own state), ConnectNow, and with `start_before` an older checkout's ConnectNow."""
    rows: list[dict[str, Any]] = []
    for count in profile.memory_counts:
        row: dict[str, Any] = {"count": count}
        row["raw"] = per_connection(start_raw, rooms, count, profile.client_processes)
        row["bare"] = per_connection(start_bare, rooms, count, profile.client_processes)
        if start_before is not None:
            row["before"] = per_connection(start_before, rooms, count, profile.client_processes)
        row["connectnow"] = per_connection(start_cn, rooms, count, profile.client_processes)
        row["ratio"] = ratio(row["connectnow"]["kibPerConnection"], row["raw"]["kibPerConnection"])
        rows.append(row)
    summary: dict[str, str] = {}
    for r in rows:
        cn, raw, bare = (r[k]["kibPerConnection"] for k in ("connectnow", "raw", "bare"))
        line = f"connectnow {cn} / raw {raw} (x{r['ratio']}); bare sio {bare}"
        if "before" in r:
            line += f"; before {r['before']['kibPerConnection']}"
        summary[f"kibPerConnection@{r['count']}"] = line
    return {"rows": rows, "summary": summary}
