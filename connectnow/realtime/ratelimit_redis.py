"""Token buckets in Redis, shared by every worker and host.

One Lua script reads, refills and takes a token atomically, using Redis' own clock (`TIME`) so workers
with drifting clocks agree. Each bucket is a hash `{prefix}:rl:{rule}:{key}` with a TTL equal to the time
it takes to refill completely: an idle bucket simply disappears, which is the same as a full one.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from connectnow.realtime.ratelimit import Decision, RateRule, RateRules, refuse
from connectnow.realtime.ratelimit_memory import MemoryRateLimiter

log = logging.getLogger("connectnow.ratelimit.redis")

CONNECT_TIMEOUT_SECS = 2.0
MIN_TTL_MS = 1000

# KEYS[1] bucket; ARGV: capacity, refill per second, ttl in ms, cost (1; 0 only looks; negative refunds).
# Returns {allowed, retry_after_ms}.
BUCKET_SCRIPT_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now_ms
end
local elapsed = now_ms - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate / 1000)
local allowed = 0
local retry_ms = 0
if cost < 0 then
  tokens = math.min(capacity, tokens - cost)
  allowed = 1
elseif tokens >= 1 then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now_ms))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return {allowed, retry_ms}
"""


class RedisRateLimiter:
    name = "redis"

    def __init__(self, url: str, prefix: str, rules: RateRules) -> None:
        self.rules = rules
        self.prefix = prefix
        self._redis = aioredis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECS)
        self._script = self._redis.register_script(BUCKET_SCRIPT_LUA)
        # While Redis is unreachable each worker meters with its own buckets: chat goes on (local
        # delivery continues through an outage) and floods are still refused, per worker.
        self._fallback = MemoryRateLimiter(rules)
        self.fallback_decisions = 0

    def bucket_key(self, key: str, rule: RateRule) -> str:
        return f"{self.prefix}:rl:{rule.name}:{key}"

    async def take(self, key: str, rule: RateRule, cost: int = 1) -> Decision:
        ttl_ms = max(MIN_TTL_MS, int(rule.idle_ttl_secs * 1000) + MIN_TTL_MS)
        try:
            allowed, retry_ms = await self._script(
                keys=[self.bucket_key(key, rule)], args=[rule.capacity, repr(rule.refill_per_sec), ttl_ms, cost]
            )
        except (RedisError, OSError) as exc:
            self.fallback_decisions += 1
            if self.fallback_decisions == 1 or self.fallback_decisions % 1000 == 0:
                log.warning("Redis rate limiter unreachable (%s); metering in this worker", exc)
            return await self._fallback.take(key, rule, cost)
        return Decision(bool(int(allowed)), int(retry_ms) / 1000)

    async def hit(self, key: str, rule: RateRule) -> None:
        decision = await self.take(key, rule)
        if not decision.allowed:
            raise refuse(rule, decision)

    async def close(self) -> None:
        await self._redis.aclose()
