"""Benchmark 4, persist: ConnectNow's message ingest (acknowledged `message:send`) against the raw driver.

Baseline: aiosqlite inserting message-sized JSON documents one statement per message with the adapter's own
settings (WAL, synchronous=NORMAL, autocommit), in the same run. ConnectNow runs closed loop with a fixed
number of messages in flight into a room with a single member, so the figure is ingest, not fan-out.

Then, issue 11's figures: an open-loop step at half the closed-loop rate (acknowledgement latency from each
message's intended send time, so a stall is charged in full), the server's CPU time per stored message in
both steps, and the event loop's lag in both, read from the server's own `/metrics` histogram
(`connectnow_event_loop_lag_samples_seconds`, one sample per dashboard interval).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench import proto
from bench.fleet import Fleet, RoomSpec, client_specs
from bench.profiles import Profile
from bench.servers import Server
from bench.stats import latency_summary, ratio

OPEN_RATE_CAP = 100_000.0  # msgs/s for the closed-loop sender: the window, not this, sets the pace
LOOP_LAG_METRIC = "connectnow_event_loop_lag_samples_seconds"
# What the persist runs give the server: /metrics readable by the bench, and a loop-lag sample every 0.2 s
# (CONNECTNOW_METRICS_ALLOWED_NETWORKS, CONNECTNOW_DASHBOARD_INTERVAL_SECONDS).
METRICS_NETWORKS = "127.0.0.1"
LAG_SAMPLE_SECONDS = "0.2"


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


def loop_lag_buckets(server: Server) -> dict[float, float] | None:
    """The server's loop-lag histogram (cumulative count per upper bound); None when it has none (an older
    build) or /metrics cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        if family.name == LOOP_LAG_METRIC:
            return {
                float(sample.labels["le"]): sample.value for sample in family.samples if sample.name.endswith("_bucket")
            }
    return None


def loop_lag_between(before: dict[float, float] | None, after: dict[float, float] | None) -> dict[str, Any] | None:
    """The samples taken between two reads: how many, and the bucket bounds of their median, p99 and max
    (a histogram gives bounds, not exact values: "at most this many ms")."""
    if before is None or after is None:
        return None
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return {"samples": 0, "p50AtMostMs": None, "p99AtMostMs": None, "maxAtMostMs": None}

    def bound(q: float) -> float | None:
        for upper, count in zip(bounds, counts, strict=True):
            if count >= q * total:
                return None if upper == float("inf") else round(upper * 1000, 1)
        return None

    return {"samples": int(total), "p50AtMostMs": bound(0.5), "p99AtMostMs": bound(0.99), "maxAtMostMs": bound(1.0)}


def _measured(fleet: Fleet, server: Server, rate: float, seconds: float, room: str, window: int) -> dict[str, Any]:
    """One step with the server's CPU per stored message and its loop lag over the step."""
    lag0 = loop_lag_buckets(server)
    step = fleet.run_step(rate, seconds, rooms=[room], window=window)
    acked = step["sent"] - step["ackErrors"]
    step["storedPerS"] = round(acked / seconds, 1)
    step["cpuUsPerStoredMessage"] = round(step["serverCpuSeconds"] / acked * 1e6, 1) if acked else None
    step["loopLag"] = loop_lag_between(lag0, loop_lag_buckets(server))
    return step


def connectnow_ingest(server: Server, room: RoomSpec, profile: Profile) -> dict[str, Any]:
    """Closed loop (`persist_window` in flight): the max rate; then open loop at half of it: latency."""
    fleet = Fleet(server, client_specs(server, [room]), 1)
    seconds = profile.persist_seconds
    try:
        fleet.connect()
        step = _measured(fleet, server, OPEN_RATE_CAP, seconds, room.room, profile.persist_window)
        half_rate = step["storedPerS"] / 2
        half = _measured(fleet, server, half_rate, seconds, room.room, 0) if half_rate > 0 else None
    finally:
        fleet.close()
    return {
        "messagesPerS": step["storedPerS"],
        "ack": step["ack"],
        "ackErrors": step["ackErrors"],
        "window": profile.persist_window,
        "cpuUsPerStoredMessage": step["cpuUsPerStoredMessage"],
        "loopLag": step["loopLag"],
        "step": step,
        "halfRate": half,
    }


def summarize(cn: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    half = cn.get("halfRate") or {}
    return {
        "connectnowMessagesPerS": cn["messagesPerS"],
        "connectnowAckP99Ms": (cn["ack"] or {}).get("p99Ms"),
        "rawSqliteInsertsPerS": raw["insertsPerS"],
        "ratioToRawInserts": ratio(cn["messagesPerS"], raw["insertsPerS"]),
        "cpuUsPerStoredMessageAtMax": cn["cpuUsPerStoredMessage"],
        "loopLagP99AtMaxAtMostMs": (cn["loopLag"] or {}).get("p99AtMostMs"),
        "halfRateMsgsPerS": half.get("rateMsgsPerS"),
        "halfRateAckP99Ms": (half.get("ack") or {}).get("p99Ms"),
        "halfRateCpuUsPerStoredMessage": half.get("cpuUsPerStoredMessage"),
        "halfRateLoopLagP99AtMostMs": (half.get("loopLag") or {}).get("p99AtMostMs"),
    }
