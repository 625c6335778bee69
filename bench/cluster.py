"""Benchmark 3, cross-worker (two workers over Redis against one), and the raw Redis baseline; plus the
scheduled-delivery lateness of the broadcasts scheduler (issue 6)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench import proto
from bench.fanout import ramp
from bench.fleet import Fleet, RoomSpec, client_specs
from bench.profiles import Profile
from bench.servers import Server
from bench.stats import latency_summary, ratio

REDIS_BATCH = 200  # PUBLISH commands per pipeline round trip in the raw baseline
REDIS_CHANNEL = "bench:raw"


async def _redis_rate(url: str, seconds: float) -> dict[str, Any]:
    """Messages/s one subscriber receives while one publisher pipelines 200-byte PUBLISHes as fast as it can."""
    pub, sub_client = aioredis.from_url(url), aioredis.from_url(url)
    sub = sub_client.pubsub()
    await sub.subscribe(REDIS_CHANNEL)
    await sub.get_message(timeout=1.0)  # the subscribe confirmation
    payload = proto.content(0, time.time()).encode()
    received = 0
    stop = asyncio.Event()

    async def consume() -> None:
        nonlocal received
        while not stop.is_set():
            message = await sub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                received += 1

    consumer = asyncio.create_task(consume())
    started = time.monotonic()
    published = 0
    while time.monotonic() - started < seconds:
        pipe = pub.pipeline(transaction=False)
        for _ in range(REDIS_BATCH):
            pipe.publish(REDIS_CHANNEL, payload)
        await pipe.execute()
        published += REDIS_BATCH
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)
    stop.set()
    await consumer
    await sub.aclose()
    await sub_client.aclose()
    await pub.aclose()
    return {"published": published, "received": received, "receivedPerS": round(received / elapsed, 1)}


def redis_rate(url: str, seconds: float) -> dict[str, Any]:
    return asyncio.run(_redis_rate(url, seconds))


def ramp_on(server: Server, rooms: list[RoomSpec], size: int, profile: Profile) -> dict[str, Any]:
    fleet = Fleet(server, client_specs(server, rooms), profile.client_processes)
    try:
        connected = fleet.connect()
        return {"connect": connected, **ramp(fleet, rooms, size, profile)}
    finally:
        fleet.close()


def cross_summary(one: dict[str, Any], two: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    a, b = one["maxSustainedDeliveriesPerS"], two["maxSustainedDeliveriesPerS"]
    return {
        "oneWorkerDeliveriesPerS": a,
        "twoWorkersDeliveriesPerS": b,
        "twoOverOne": ratio(b, a),
        "oneWorkerCpuUsPerDelivery": one["serverCpuUsPerDelivery"],
        "twoWorkersCpuUsPerDelivery": two["serverCpuUsPerDelivery"],
        "rawRedisPubSubMsgsPerS": raw["receivedPerS"],
        "oneWorkerMessagesPerS": round(a / max(1, one["roomSize"]), 1),
        "oneWorkerMessagesVsRawRedis": ratio(a / max(1, one["roomSize"]), raw["receivedPerS"]),
    }


# --- lateness of scheduled deliveries ------------------------------------------------------------------------
LATENESS_LEAD_S = 3.0  # the first message is due this long after scheduling starts
LATENESS_SPREAD_S = 0.1  # one message due every this many seconds after it
LATENESS_STEP = 9_000  # a step number no ramp reaches


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


async def _schedule(base_url: str, token: str, channel_id: str, count: int) -> list[float]:
    due = []
    first = time.time() + LATENESS_LEAD_S
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(count):
            at = round(first + i * LATENESS_SPREAD_S, 3)
            body = {
                "target": {"kind": "channel", "channelId": channel_id},
                "message": proto.content(LATENESS_STEP, at),
                "scheduledFor": _iso(at),
            }
            response = await http.post("/api/v1/scheduled", json=body)
            response.raise_for_status()
            due.append(at)
    return due


async def _timer_lateness(due: list[float]) -> list[float]:
    """The event loop's own timer lateness for the same due times: the floor any scheduler pays here."""
    loop = asyncio.get_running_loop()
    late: list[float] = []
    offset = time.time() - loop.time()
    for at in due:
        fut: asyncio.Future[None] = loop.create_future()
        loop.call_at(at - offset, fut.set_result, None)
        await fut
        late.append(time.time() - at)
    return late


def lateness(server: Server, room: RoomSpec, profile: Profile, poll_seconds: float) -> dict[str, Any]:
    fleet = Fleet(server, client_specs(server, [room]), 1)
    try:
        fleet.connect()
        count = profile.lateness_messages
        due = asyncio.run(_schedule(f"http://127.0.0.1:{server.port}", room.members[0], room.room, count))
        wait = max(0.0, due[-1] - time.time()) + poll_seconds * 3 + 2.0
        latencies, _, _ = fleet.collect_until(LATENESS_STEP, count * len(room.members), wait)
    finally:
        fleet.close()
    timer = asyncio.run(_timer_lateness([time.time() + 0.2 + i * LATENESS_SPREAD_S for i in range(count)]))
    late = latency_summary(latencies)
    floor = latency_summary(timer)
    return {
        "scheduled": count,
        "deliveries": len(latencies),
        "expectedDeliveries": count * len(room.members),
        "lateness": late,
        "eventLoopTimerLateness": floor,
        "pollSeconds": poll_seconds,
        "summary": {
            "p99LatenessMs": late["p99Ms"],
            "p99OverPollInterval": ratio(late["p99Ms"], poll_seconds * 1000),
            "eventLoopTimerP99Ms": floor["p99Ms"],
            "delivered": f"{len(latencies)}/{count * len(room.members)}",
        },
    }


def lateness_summary(one: dict[str, Any], racing: dict[str, Any], workers: int) -> dict[str, Any]:
    """One worker against several schedulers racing (workers over Redis)."""
    a, b = one["summary"], racing["summary"]
    return {
        "p99LatenessMs": a["p99LatenessMs"],
        "maxLatenessMs": one["lateness"]["maxMs"],
        "racingWorkers": workers,
        "racingP99LatenessMs": b["p99LatenessMs"],
        "racingMaxLatenessMs": racing["lateness"]["maxMs"],
        "p99OverPollInterval": a["p99OverPollInterval"],
        "eventLoopTimerP99Ms": a["eventLoopTimerP99Ms"],
        "delivered": a["delivered"],
        "racingDelivered": b["delivered"],
    }
