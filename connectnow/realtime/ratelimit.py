"""Per-user rate limits: a token bucket per (rule, key), in Redis when configured, in-process otherwise.

A bucket holds at most `capacity` tokens and refills at `refill_per_sec`; each action takes one token.
A burst of `capacity` actions passes at once, then actions pass at the refill rate. A refusal is
`AppError(RATE_LIMITED, retry_after=seconds)`, so clients know how long to wait (the wire says
`details.retryAfter`).

Usage: `await node.rate_limiter.hit(principal.user_id, node.rate_limiter.rules.send)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from connectnow import errors
from connectnow.config import Settings
from connectnow.errors import AppError


@dataclass(frozen=True, slots=True)
class RateRule:
    """One kind of action: `name` separates its buckets from other rules' buckets."""

    name: str
    capacity: int  # tokens: the largest burst allowed
    refill_per_sec: float  # tokens added back per second

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.refill_per_sec <= 0:
            raise ValueError(f"rate rule {self.name}: capacity >= 1 and refill_per_sec > 0 are required")

    @property
    def idle_ttl_secs(self) -> float:
        """After this long without a hit the bucket is full again, so it need not be kept."""
        return self.capacity / self.refill_per_sec


@dataclass(frozen=True, slots=True)
class RateRules:
    """The rules ConnectNow enforces, read from settings."""

    send: RateRule
    react: RateRule
    typing: RateRule
    upload: RateRule
    signal: RateRule = RateRule("signal", 200, 50.0)  # VOICE call signalling (offers, answers, ICE candidates)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateRules:
        return cls(
            send=RateRule("send", settings.rate_send_burst, settings.rate_send_per_second),
            react=RateRule("react", settings.rate_react_burst, settings.rate_react_per_second),
            typing=RateRule("typing", settings.rate_typing_burst, settings.rate_typing_per_second),
            upload=RateRule("upload", settings.rate_upload_burst, settings.rate_upload_per_second),
            signal=RateRule("signal", settings.rate_signal_burst, settings.rate_signal_per_second),
        )


@dataclass(frozen=True, slots=True)
class AuthRules:
    """Sign-in, registration and refresh (connectnow/services/auth_limits.py). `address`: every such
    request from one client address; `account`: sign-in attempts naming one account from anywhere; `lockout`:
    failed sign-ins of one account from one address (a lockout an attacker elsewhere cannot extend to the owner)."""

    address: RateRule
    account: RateRule
    lockout: RateRule

    @classmethod
    def from_settings(cls, s: Settings) -> AuthRules:
        return cls(
            RateRule("auth_address", s.rate_auth_address_burst, s.rate_auth_address_per_second),
            RateRule("auth_account", s.rate_auth_account_burst, s.rate_auth_account_per_second),
            RateRule("auth_lockout", s.auth_lockout_failures, 1 / s.auth_lockout_seconds),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_secs: float  # 0 when allowed


class RateLimiter(Protocol):
    name: str
    rules: RateRules

    async def take(self, key: str, rule: RateRule, cost: int = 1) -> Decision:
        """Take `cost` tokens (1, or 0 to only look) from the bucket of (rule, key) if it holds one. A negative
        cost gives tokens back (a refund of a take that turned out not to be an action), never above the
        bucket's capacity, and is always allowed."""
        ...

    async def hit(self, key: str, rule: RateRule) -> None:
        """Take one token or raise AppError(RATE_LIMITED, retry_after=...)."""
        ...

    async def close(self) -> None: ...


def refuse(rule: RateRule, decision: Decision) -> AppError:
    # Round up to milliseconds: retrying a hair too early would be refused again.
    retry = math.ceil(decision.retry_after_secs * 1000) / 1000
    return AppError(
        errors.RATE_LIMITED,
        f"Too many {rule.name} actions; retry in {retry:.3f} s",
        details={"rule": rule.name},
        retry_after=retry,
    )


def make_rate_limiter(settings: Settings) -> RateLimiter:
    rules = RateRules.from_settings(settings)
    if settings.redis_url:
        from connectnow.realtime.ratelimit_redis import RedisRateLimiter

        return RedisRateLimiter(settings.redis_url, settings.redis_prefix, rules)
    from connectnow.realtime.ratelimit_memory import MemoryRateLimiter

    return MemoryRateLimiter(rules)
