"""In-process token buckets: the embedded default when there is one worker and no Redis.

`take` never awaits, so on one event loop each take is atomic without a lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from connectnow.realtime.ratelimit import Decision, RateRule, RateRules, refuse

# Forget idle buckets now and then, so a flood of distinct keys cannot grow memory forever.
SWEEP_EVERY_TAKES = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float  # monotonic seconds
    rule: RateRule


class MemoryRateLimiter:
    name = "memory"

    def __init__(self, rules: RateRules, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._takes = 0

    async def take(self, key: str, rule: RateRule, cost: int = 1) -> Decision:
        now = self._clock()
        self._takes += 1
        if self._takes % SWEEP_EVERY_TAKES == 0:
            self._sweep(now)
        bucket = self._buckets.get((rule.name, key))
        if bucket is None:
            bucket = self._buckets[(rule.name, key)] = _Bucket(float(rule.capacity), now, rule)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(rule.capacity), bucket.tokens + elapsed * rule.refill_per_sec)
        bucket.updated = now
        if cost < 0:  # a refund
            bucket.tokens = min(float(rule.capacity), bucket.tokens - cost)
            return Decision(True, 0.0)
        if bucket.tokens >= 1.0:
            bucket.tokens -= cost
            return Decision(True, 0.0)
        return Decision(False, (1.0 - bucket.tokens) / rule.refill_per_sec)

    async def hit(self, key: str, rule: RateRule) -> None:
        decision = await self.take(key, rule)
        if not decision.allowed:
            raise refuse(rule, decision)

    def _sweep(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if now - b.updated >= b.rule.idle_ttl_secs]
        for k in idle:
            del self._buckets[k]

    def __len__(self) -> int:
        return len(self._buckets)

    async def close(self) -> None:
        self._buckets.clear()
