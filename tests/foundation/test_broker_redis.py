"""The Redis broker against a real redis-server: delivery, a watched listener, failures surfaced."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectnow.realtime.broker_redis import RedisBroker
from tests.support.redis_server import RedisServer


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        for _ in range(int(timeout / 0.02)):
            if len(self.messages) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {self.messages}")


async def wait_healthy(broker: RedisBroker, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if (await broker.check()).ok:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"broker never became healthy: {(await broker.check()).detail}")


async def test_publish_reaches_every_worker_exactly_once(redis_server: RedisServer, redis_prefix: str) -> None:
    a_inbox, b_inbox = Inbox(), Inbox()
    a, b = RedisBroker(redis_server.url, redis_prefix), RedisBroker(redis_server.url, redis_prefix)
    await a.start(a_inbox)
    await b.start(b_inbox)
    try:
        await a.publish({"op": "emit", "n": 1})
        await b.publish({"op": "emit", "n": 2})
        await a_inbox.wait_for(2)
        await b_inbox.wait_for(2)
        await asyncio.sleep(0.2)
        assert sorted(m["n"] for m in a_inbox.messages) == [1, 2]
        assert sorted(m["n"] for m in b_inbox.messages) == [1, 2]
    finally:
        await a.stop()
        await b.stop()


async def test_other_prefixes_are_not_heard(redis_server: RedisServer, redis_prefix: str) -> None:
    inbox, stranger_inbox = Inbox(), Inbox()
    mine, stranger = RedisBroker(redis_server.url, redis_prefix), RedisBroker(redis_server.url, redis_prefix + "x")
    await mine.start(inbox)
    await stranger.start(stranger_inbox)
    try:
        await mine.publish({"op": "emit"})
        await inbox.wait_for(1)
        await asyncio.sleep(0.2)
        assert stranger_inbox.messages == []
    finally:
        await mine.stop()
        await stranger.stop()


@pytest.fixture
def private_redis() -> Any:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


async def test_listener_restarts_after_redis_restarts(private_redis: RedisServer, redis_prefix: str) -> None:
    inbox = Inbox()
    broker = RedisBroker(private_redis.url, redis_prefix)
    await broker.start(inbox)
    try:
        assert (await broker.check()).ok
        private_redis.stop()
        down = await broker.check()
        assert not down.ok and "redis" in down.detail
        # With Redis down, a publish is delivered to this worker and the failure is counted, never swallowed.
        await broker.publish({"op": "emit", "n": "local"})
        assert inbox.messages[-1]["n"] == "local" and broker.publish_failures == 1
        private_redis.restart()
        await wait_healthy(broker)
        health = await broker.check()
        assert health.listener_restarts >= 1
        await broker.publish({"op": "emit", "n": "after"})
        await inbox.wait_for(2)
        assert inbox.messages[-1]["n"] == "after"
    finally:
        await broker.stop()


async def test_a_stalled_listener_is_detected_and_restarted(redis_server: RedisServer, redis_prefix: str) -> None:
    received: list[dict[str, Any]] = []
    release = asyncio.Event()

    async def handler(message: dict[str, Any]) -> None:
        if message.get("hang"):
            await release.wait()  # a handler that never returns: the listener is alive but deaf
        received.append(message)

    lags: list[float] = []
    broker = RedisBroker(redis_server.url, redis_prefix, watchdog_interval=0.2, on_lag=lags.append)
    await broker.start(handler)
    try:
        await asyncio.sleep(0.5)
        assert lags, "the watchdog's own pings come back and measure pub/sub lag"
        await broker.publish({"op": "emit", "hang": True})
        for _ in range(50):
            if broker.stalls:
                break
            await asyncio.sleep(0.1)
        assert broker.stalls >= 1 and broker.listener_restarts >= 1
        await wait_healthy(broker)
        await broker.publish({"op": "emit", "n": "after the stall"})
        for _ in range(50):
            if any(m.get("n") == "after the stall" for m in received):
                break
            await asyncio.sleep(0.05)
        assert any(m.get("n") == "after the stall" for m in received)
    finally:
        release.set()
        await broker.stop()
