"""Benchmark 7, reconnect storm: every socket of one large workspace connects at once (issue 12).

N sockets of an M-member workspace (N/M devices per member) connect to bare python-socketio and then to
ConnectNow, started fresh in the same run; the figure is ConnectNow's time over bare's. Each member's
first socket changes their presence: announced to every member, that is M x N socket writes (10 million for
10,000 sockets of 1,000 members). ConnectNow announces a change to the user's own sockets and subscribers,
and to whole workspaces only up to `presence_broadcast_max_members`, so the storm stays linear in sockets.
Presence messages per connect (broker messages, from ConnectNow's /metrics) must stay bounded by a constant.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.fleet import Fleet, RoomSpec, client_specs
from bench.servers import Server
from bench.stats import ratio

SETTLE_S = 2.0  # after the storm: the last announcements and the first sweep


def _metric(text: str, pattern: str) -> float:
    found = re.search(rf"^{pattern} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _presence_messages(server: Server) -> float:
    """Presence changes published so far (one broker message each), from ConnectNow's /metrics."""
    if server.send_kind != "connectnow":
        return 0.0
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    return _metric(text, r'connectnow_events_total\{event="presence:changed"\}')


def storm(start: Callable[[], Server], room: RoomSpec, sockets: int, processes: int) -> dict[str, Any]:
    server = start()
    try:
        specs = client_specs(server, [room], sockets_per_member=math.ceil(sockets / len(room.members)))[:sockets]
        for spec in specs:
            spec.sender = False
        before = _presence_messages(server)
        fleet = Fleet(server, specs, processes)
        try:
            connected = fleet.connect()
            time.sleep(SETTLE_S)
            after = _presence_messages(server)
        finally:
            fleet.close()
    finally:
        server.stop()
    n = max(1, connected["connected"])
    return {
        "sockets": sockets,
        "connected": connected["connected"],
        "failed": connected["failed"],
        "errors": connected["errors"],
        "seconds": connected["seconds"],
        "presenceMessages": after - before,
        "presenceMessagesPerConnect": round((after - before) / n, 4),
    }


def run(
    start_cn: Callable[[], Server], start_bare: Callable[[], Server], room: RoomSpec, sockets: int, processes: int
) -> dict[str, Any]:
    bare = storm(start_bare, room, sockets, processes)
    cn = storm(start_cn, room, sockets, processes)
    return {
        "members": len(room.members),
        "bare": bare,
        "connectnow": cn,
        "summary": {
            "sockets": sockets,
            "members": len(room.members),
            "bareSeconds": bare["seconds"],
            "connectnowSeconds": cn["seconds"],
            "connectnowOverBare": ratio(cn["seconds"], bare["seconds"]),
            "failed": f"connectnow {cn['failed']} / bare {bare['failed']}",
            "presenceMessagesPerConnect": cn["presenceMessagesPerConnect"],
        },
    }
