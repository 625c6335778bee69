"""Benchmark 4, persist: ConnectNow's message ingest (acknowledged `message:send`) against the raw driver.

Baseline: aiosqlite inserting message-sized JSON documents one statement per message with the adapter's own
settings (WAL, synchronous=NORMAL, autocommit), in the same run. ConnectNow runs closed loop with a fixed
number of messages in flight into a room with a single member, so the figure is ingest, not fan-out.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from bench import proto
from bench.fleet import Fleet, RoomSpec, client_specs
from bench.profiles import Profile
from bench.servers import Server
from bench.stats import latency_summary, ratio

OPEN_RATE_CAP = 100_000.0  # msgs/s for the closed-loop sender: the window, not this, sets the pace


async def _raw_sqlite(path: Path, seconds: float) -> dict[str, Any]:
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("CREATE TABLE messages (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        doc = {"channelId": "0" * 24, "userId": "1" * 24, "content": proto.content(0, time.time()), "seq": 0}
        n, lat = 0, []
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < deadline:
            t = time.monotonic()
            doc["seq"] = n
            await db.execute("INSERT INTO messages (id, doc) VALUES (?, ?)", (f"{n:024d}", orjson.dumps(doc)))
            lat.append(time.monotonic() - t)
            n += 1
        return {"insertsPerS": round(n / (time.monotonic() - started), 1), "insert": latency_summary(lat)}
    finally:
        await db.close()


def raw_sqlite(workdir: Path, seconds: float) -> dict[str, Any]:
    path = workdir / "raw-insert.sqlite3"
    path.unlink(missing_ok=True)
    return asyncio.run(_raw_sqlite(path, seconds))


def connectnow_ingest(server: Server, room: RoomSpec, profile: Profile) -> dict[str, Any]:
    fleet = Fleet(server, client_specs(server, [room]), 1)
    try:
        fleet.connect()
        step = fleet.run_step(OPEN_RATE_CAP, profile.persist_seconds, rooms=[room.room], window=profile.persist_window)
    finally:
        fleet.close()
    acked = step["sent"] - step["ackErrors"]
    return {
        "messagesPerS": round(acked / profile.persist_seconds, 1),
        "ack": step["ack"],
        "ackErrors": step["ackErrors"],
        "window": profile.persist_window,
        "step": step,
    }


def summarize(cn: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "connectnowMessagesPerS": cn["messagesPerS"],
        "connectnowAckP99Ms": (cn["ack"] or {}).get("p99Ms"),
        "rawSqliteInsertsPerS": raw["insertsPerS"],
        "ratioToRawInserts": ratio(cn["messagesPerS"], raw["insertsPerS"]),
    }
