"""Rate limits and the failed-attempt lockout of sign-in, registration and refresh.

Three token buckets (connectnow/realtime/ratelimit*.py, so in Redis and shared by every worker when Redis is
configured), each refusal a `RATE_LIMITED` with `Retry-After`:

- per client address, every sign-in, registration, refresh (and a future password reset) request: bounds what
  one address can make the server hash (each attempt costs an argon2id hash of 19 MiB);
- per account, every sign-in attempt naming it and every refresh of its sessions from any address (and every
  registration naming one e-mail): bounds distributed guessing of one password. It refuses for at most 1/rate
  seconds at a time and never locks;
- per (account, address), failed sign-ins only: after `auth_lockout_failures` failures that address gets one
  more try per `auth_lockout_seconds`. The owner signing in from their own address is never in the bucket an
  attacker elsewhere fills, so the lockout cannot be turned against them.
"""

from __future__ import annotations

import hashlib

from connectnow.realtime.ratelimit import AuthRules, RateLimiter, refuse

UNKNOWN_ADDRESS = "unknown"


def _account_key(account: str) -> str:
    # Unknown logins are user input: a fixed-size digest keeps bucket keys short and free of separators.
    return hashlib.sha256(account.encode()).hexdigest()[:32]


class AuthThrottle:
    def __init__(self, limiter: RateLimiter, rules: AuthRules) -> None:
        self.limiter = limiter
        self.rules = rules

    async def request(self, address: str | None) -> None:
        """Any sign-in, registration, refresh or reset request from this address."""
        await self.limiter.hit(address or UNKNOWN_ADDRESS, self.rules.address)

    async def before_sign_in(self, account: str, address: str | None) -> None:
        """Checked before the password is hashed, so a refused attempt costs nothing. `account`: the user's id,
        or the login as typed when no such user exists. Call `request` first."""
        locked = await self.limiter.take(_pair_key(account, address), self.rules.lockout, cost=0)
        if not locked.allowed:
            raise refuse(self.rules.lockout, locked)
        await self.account(account)

    async def account(self, account: str) -> None:
        """Any sign-in, refresh or registration naming this account (a user id, or a name when none exists)."""
        await self.limiter.hit(_account_key(account), self.rules.account)

    async def sign_in_failed(self, account: str, address: str | None) -> None:
        await self.limiter.take(_pair_key(account, address), self.rules.lockout)


def _pair_key(account: str, address: str | None) -> str:
    return f"{_account_key(account)}@{address or UNKNOWN_ADDRESS}"
