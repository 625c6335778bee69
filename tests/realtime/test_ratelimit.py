"""Token buckets: the in-process default and the Redis one (against a real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectnow import errors
from connectnow.errors import AppError
from connectnow.realtime.ratelimit import RateLimiter, RateRule, RateRules, make_rate_limiter
from connectnow.realtime.ratelimit_memory import SWEEP_EVERY_TAKES, MemoryRateLimiter
from connectnow.realtime.ratelimit_redis import RedisRateLimiter
from tests.conftest import make_settings
from tests.support.redis_server import RedisServer

RULE = RateRule("send", capacity=5, refill_per_sec=10.0)
SLOW = RateRule("slow", capacity=3, refill_per_sec=0.01)
RULES = RateRules(send=RULE, react=RULE, typing=RULE, upload=SLOW)


class FakeClock:
    """A monotonic clock the test moves by hand, so refill arithmetic is checked exactly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[RateLimiter]:
    made: RateLimiter
    if request.param == "memory":
        made = MemoryRateLimiter(RULES)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisRateLimiter(server.url, redis_prefix, RULES)
    try:
        yield made
    finally:
        await made.close()


async def test_burst_up_to_capacity_then_refused_with_retry_after(limiter: RateLimiter) -> None:
    for _ in range(SLOW.capacity):
        await limiter.hit("u1", SLOW)
    with pytest.raises(AppError) as info:
        await limiter.hit("u1", SLOW)
    assert info.value.error is errors.RATE_LIMITED
    assert info.value.retry_after is not None
    # One token at 0.01/s takes up to 100 s to come back.
    assert 50 < info.value.retry_after <= 100.001
    body = info.value.body()
    assert body["error"]["details"]["retryAfter"] == pytest.approx(info.value.retry_after)
    assert body["error"]["details"]["rule"] == "slow"
    assert body["error"]["retryable"] is True


async def test_keys_and_rules_have_separate_buckets(limiter: RateLimiter) -> None:
    for _ in range(SLOW.capacity):
        await limiter.hit("u1", SLOW)
    await limiter.hit("u2", SLOW)  # another user is not affected
    other = RateRule("other", capacity=1, refill_per_sec=0.01)
    await limiter.hit("u1", other)  # nor is another rule of the same user


async def test_tokens_refill_over_time(limiter: RateLimiter) -> None:
    for _ in range(RULE.capacity):
        await limiter.hit("u1", RULE)
    refused = await limiter.take("u1", RULE)
    assert not refused.allowed
    assert 0 < refused.retry_after_secs <= 0.1 + 0.001
    await asyncio.sleep(0.25)  # 10 tokens/s: at least two back
    assert (await limiter.take("u1", RULE)).allowed
    assert (await limiter.take("u1", RULE)).allowed


async def test_concurrent_hits_allow_exactly_capacity(limiter: RateLimiter) -> None:
    burst = RateRule("burst", capacity=7, refill_per_sec=0.001)
    decisions = await asyncio.gather(*(limiter.take("hot", burst) for _ in range(40)))
    assert sum(d.allowed for d in decisions) == burst.capacity


async def test_redis_concurrency_across_separate_clients(redis_server: RedisServer, redis_prefix: str) -> None:
    """Several workers (separate connections) share one bucket: still exactly `capacity` pass."""
    burst = RateRule("burst", capacity=10, refill_per_sec=0.001)
    workers = [RedisRateLimiter(redis_server.url, redis_prefix, RULES) for _ in range(4)]
    try:
        decisions = await asyncio.gather(*(workers[i % 4].take("shared", burst) for i in range(60)))
    finally:
        for worker in workers:
            await worker.close()
    assert sum(d.allowed for d in decisions) == 10


async def test_redis_bucket_has_ttl_and_prefix(redis_server: RedisServer, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    limiter = RedisRateLimiter(redis_server.url, redis_prefix, RULES)
    client = aioredis.from_url(redis_server.url)
    try:
        await limiter.hit("u9", SLOW)
        key = f"{redis_prefix}:rl:slow:u9"
        assert limiter.bucket_key("u9", SLOW) == key
        ttl_ms = await client.pttl(key)
        # Full again after capacity / rate = 300 s: the key lives about that long, then disappears.
        assert 290_000 < ttl_ms <= 301_000
        assert await client.keys(f"{redis_prefix}:*") == [key.encode()]
    finally:
        await client.aclose()
        await limiter.close()


async def test_redis_down_meters_per_worker_instead_of_stopping_chat(redis_prefix: str) -> None:
    import socket

    # Issue 4: chat goes on through a Redis outage. The limiter falls back to this worker's own buckets,
    # so floods are still refused and the fallback is counted, never silent.
    # The dead port stays bound (never listening) so no other process can start a server on it mid-test.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        await fallback_meters(RedisRateLimiter(f"redis://127.0.0.1:{held.getsockname()[1]}/0", redis_prefix, RULES))


async def fallback_meters(limiter: RedisRateLimiter) -> None:
    try:
        for _ in range(SLOW.capacity):
            await limiter.hit("u1", SLOW)
        with pytest.raises(AppError) as info:
            await limiter.hit("u1", SLOW)
        assert info.value.error is errors.RATE_LIMITED
        assert limiter.fallback_decisions == SLOW.capacity + 1
    finally:
        await limiter.close()


async def test_memory_refill_arithmetic_with_a_controlled_clock() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(RULES, clock=clock)
    rule = RateRule("r", capacity=2, refill_per_sec=0.5)
    assert (await limiter.take("k", rule)).allowed
    assert (await limiter.take("k", rule)).allowed
    refused = await limiter.take("k", rule)
    assert not refused.allowed and refused.retry_after_secs == pytest.approx(2.0)
    clock.now += 1.0  # half a token back
    refused = await limiter.take("k", rule)
    assert refused.retry_after_secs == pytest.approx(1.0)
    clock.now += 1.0
    assert (await limiter.take("k", rule)).allowed
    clock.now += 3600  # never more than capacity
    assert (await limiter.take("k", rule)).allowed
    assert (await limiter.take("k", rule)).allowed
    assert not (await limiter.take("k", rule)).allowed


async def test_memory_forgets_idle_buckets() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(RULES, clock=clock)
    for i in range(SWEEP_EVERY_TAKES - 1):
        await limiter.take(f"user{i}", RULE)
    assert len(limiter) == SWEEP_EVERY_TAKES - 1
    clock.now += RULE.idle_ttl_secs + 1
    await limiter.take("last", RULE)  # this take triggers the sweep
    assert len(limiter) <= 1


def test_rules_are_read_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_send_burst=3, rate_send_per_second=0.5, rate_typing_burst=4)
    limiter = make_rate_limiter(settings)
    assert isinstance(limiter, MemoryRateLimiter)
    assert limiter.rules.send == RateRule("send", 3, 0.5)
    assert limiter.rules.typing.capacity == 4


def test_redis_is_chosen_when_configured(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", redis_prefix="cnx")
    limiter = make_rate_limiter(settings)
    assert isinstance(limiter, RedisRateLimiter)
    assert limiter.bucket_key("u", limiter.rules.react) == "cnx:rl:react:u"


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        RateRule("bad", capacity=0, refill_per_sec=1)
    with pytest.raises(ValueError):
        RateRule("bad", capacity=1, refill_per_sec=0)


async def test_a_zero_cost_take_looks_without_taking(limiter: RateLimiter) -> None:
    """Issue 14: the sign-in lockout looks at its bucket before hashing and takes a token only on a failure."""
    for _ in range(10):
        assert (await limiter.take("peek", SLOW, cost=0)).allowed
    for _ in range(SLOW.capacity):
        assert (await limiter.take("peek", SLOW)).allowed
    looked = await limiter.take("peek", SLOW, cost=0)
    assert not looked.allowed and looked.retry_after_secs > 1


async def test_a_negative_cost_gives_tokens_back_up_to_capacity(limiter: RateLimiter) -> None:
    """Issue 11: a send that turns out to be a replay gives its token back."""
    for _ in range(SLOW.capacity):
        assert (await limiter.take("refund", SLOW)).allowed
    assert not (await limiter.take("refund", SLOW)).allowed
    assert (await limiter.take("refund", SLOW, cost=-1)).allowed  # allowed even from an empty bucket
    assert (await limiter.take("refund", SLOW)).allowed
    assert not (await limiter.take("refund", SLOW)).allowed
    for _ in range(SLOW.capacity + 3):  # never above capacity
        await limiter.take("refund", SLOW, cost=-1)
    for _ in range(SLOW.capacity):
        assert (await limiter.take("refund", SLOW)).allowed
    assert not (await limiter.take("refund", SLOW)).allowed
