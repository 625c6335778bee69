"""Presence in Redis, shared by every worker.

Keys (under `{prefix}:presence`):
- `conns:{user}`    sorted set, sid -> expiry; a worker's heartbeat (re-)creates its sids and pushes them forward
- `act:{user}`      hash, sid -> last activity
- `due`             sorted set, user -> when to look at the user again (earliest end of grace, or an expiry)
- `override:{user}` hash: status, text, until
- `state:{user}`    the last published state (key, lastActiveAt, record); swapped by a Lua script so exactly
                    one worker announces a change
- `epoch`           present while Redis keeps its data: a heartbeat that finds it missing knows it was lost
- `heal_until`      set after an outage or data loss: until then no worker treats an entry as lapsed

Every call is one round trip (pipelines and Lua scripts), whatever the number of users it covers. Errors
reaching Redis become `PresenceUnavailable`; the service then serves its worker's own view.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from connectnow.realtime.presence import (
    NO_OVERRIDE,
    Close,
    LiveConnection,
    Override,
    PresenceStatus,
    PresenceUnavailable,
    Swap,
    UserView,
)

# Keys unused for a day are dropped: presence is rebuilt from live connections anyway.
IDLE_KEY_TTL_SECONDS = 24 * 3600
# A call that takes longer than this means Redis is unreachable: connects must not hang on it.
SOCKET_TIMEOUT_SECONDS = 2.0

# KEYS: conns, act, override, state; ARGV[1]: now. Drops the lapsed entries, returns
# {latest activity among them, override fields, state value or false, {sid, expiry, activity, ...}}.
_READ = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local lapsed_activity = 0
if #lapsed > 0 then
  for _, a in ipairs(redis.call('HMGET', KEYS[2], unpack(lapsed))) do
    if a and tonumber(a) > lapsed_activity then lapsed_activity = tonumber(a) end
  end
  redis.call('ZREM', KEYS[1], unpack(lapsed))
  redis.call('HDEL', KEYS[2], unpack(lapsed))
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = live[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or '0'
end
return {string.format('%.0f', lapsed_activity), redis.call('HGETALL', KEYS[3]), redis.call('GET', KEYS[4]), out}
"""

# KEYS: the state key (value "key<TAB>activity<TAB>record"), the user's conns. ARGV: key, activity, record,
# ttl, throttle, now, offline. An OFFLINE swap is refused if a connection appeared since the caller's read
# (a reconnect on another worker at that very moment): OFFLINE is never announced for a connected user.
_SWAP = """
if ARGV[7] == '1' and redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[6], '+inf') > 0 then return 0 end
local current = redis.call('GET', KEYS[1])
local value = ARGV[1] .. '\t' .. ARGV[2] .. '\t' .. ARGV[3]
if current then
  local key, activity = string.match(current, '^([^\t]*)\t([^\t]*)\t')
  if key == ARGV[1] then
    if tonumber(ARGV[2]) < (tonumber(activity) or 0) + tonumber(ARGV[5]) then return 0 end
    redis.call('SET', KEYS[1], value, 'EX', ARGV[4])
    return 2
  end
end
redis.call('SET', KEYS[1], value, 'EX', ARGV[4])
return 1
"""

# KEYS[1]: due. ARGV: user, when ('' to forget), now. Only if nobody moved the check past now meanwhile.
_RESCHEDULE = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at and tonumber(at) > tonumber(ARGV[3]) then return 0 end
if ARGV[2] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
return 1
"""


def now_ms_() -> int:
    return time.time_ns() // 1_000_000


P = ParamSpec("P")
R = TypeVar("R")


def _unavailable_on_error(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            raise PresenceUnavailable(f"{type(exc).__name__}: {exc}") from exc

    return call


def _override(raw: list[str]) -> Override:
    fields = dict(zip(raw[::2], raw[1::2], strict=True))
    if not fields:
        return NO_OVERRIDE
    status = PresenceStatus(fields["status"]) if fields.get("status") else None
    return Override(status, fields.get("text") or None, int(fields.get("until", 0)))


class RedisPresence:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis: Any = aioredis.from_url(
            url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        self._p = f"{prefix}:presence"
        self._read = self._redis.register_script(_READ)
        self._swap = self._redis.register_script(_SWAP)
        self._reschedule = self._redis.register_script(_RESCHEDULE)

    def _k(self, kind: str, user_id: str | None = None) -> str:
        return f"{self._p}:{kind}" if user_id is None else f"{self._p}:{kind}:{user_id}"

    @_unavailable_on_error
    async def add_connection(self, user_id: str, sid: str, now_ms: int, ttl_ms: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            self._register(pipe, user_id, {sid: now_ms}, now_ms + ttl_ms)
            await pipe.execute()

    def _register(self, pipe: Any, user_id: str, sids: dict[str, int], expiry: int) -> None:
        # No XX: an entry Redis lost (restart, flush) is created again, not silently skipped.
        pipe.zadd(self._k("conns", user_id), dict.fromkeys(sids, expiry))
        pipe.hset(self._k("act", user_id), mapping={sid: str(ts) for sid, ts in sids.items()})
        pipe.zadd(self._k("due"), {user_id: expiry}, gt=True)  # GT still adds a missing member
        pipe.expire(self._k("conns", user_id), IDLE_KEY_TTL_SECONDS)
        pipe.expire(self._k("act", user_id), IDLE_KEY_TTL_SECONDS)

    @_unavailable_on_error
    async def heartbeat(self, entries: dict[str, dict[str, int]], now_ms: int, ttl_ms: int) -> bool:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._k("epoch"), "1", nx=True)
            for user_id, sids in entries.items():
                if sids:
                    self._register(pipe, user_id, sids, now_ms + ttl_ms)
            results = await pipe.execute()
        return bool(results[0])

    @_unavailable_on_error
    async def heal(self, until_ms: int) -> None:
        await self._redis.set(self._k("heal_until"), str(until_ms), px=max(1, until_ms - now_ms_()))

    @_unavailable_on_error
    async def remove_connections(self, closes: list[Close]) -> None:
        if not closes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, sid, activity_ms, linger_until_ms in closes:
                pipe.zadd(self._k("conns", user_id), {sid: linger_until_ms})
                pipe.hset(self._k("act", user_id), sid, str(activity_ms))
                pipe.zadd(self._k("due"), {user_id: linger_until_ms}, lt=True)  # LT still adds a missing member
            await pipe.execute()

    @_unavailable_on_error
    async def read(self, user_ids: list[str], now_ms: int) -> dict[str, UserView]:
        if not user_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                keys = [self._k(kind, user_id) for kind in ("conns", "act", "override", "state")]
                await self._read(keys=keys, args=[now_ms], client=pipe)
            results = await pipe.execute()
        return {user_id: self._view(result) for user_id, result in zip(user_ids, results, strict=True)}

    @staticmethod
    def _view(result: list[Any]) -> UserView:
        lapsed, override, state, flat = result
        live = [LiveConnection(flat[i], int(flat[i + 2] or 0), int(float(flat[i + 1]))) for i in range(0, len(flat), 3)]
        record = state.split("\t", 2)[2] if state else None
        return UserView(live, int(lapsed), _override(override), record)

    @_unavailable_on_error
    async def due_users(self, now_ms: int, limit: int) -> list[str]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._k("heal_until"))
            pipe.zrangebyscore(self._k("due"), "-inf", now_ms, start=0, num=limit)
            heal_until, users = await pipe.execute()
        if heal_until is not None and int(heal_until) > now_ms:
            return []  # data was lost a moment ago: the workers are still re-registering their sockets
        return list(users)

    @_unavailable_on_error
    async def reschedule(self, checks: dict[str, int | None], now_ms: int) -> None:
        if not checks:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, at in checks.items():
                args = [user_id, "" if at is None else at, now_ms]
                await self._reschedule(keys=[self._k("due")], args=args, client=pipe)
            await pipe.execute()

    @_unavailable_on_error
    async def set_override(self, user_id: str, override: Override) -> None:
        key = self._k("override", user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "status": override.status.value if override.status else "",
                    "text": override.text or "",
                    "until": str(override.until_ms),
                },
            )
            await pipe.execute()

    @_unavailable_on_error
    async def swap_states(self, swaps: list[Swap], throttle_ms: int) -> list[int]:
        if not swaps:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for swap in swaps:
                args: list[str | int] = [swap.key, swap.activity_ms, swap.record, IDLE_KEY_TTL_SECONDS, throttle_ms]
                args += [now_ms_(), int(swap.offline)]
                keys = [self._k("state", swap.user_id), self._k("conns", swap.user_id)]
                await self._swap(keys=keys, args=args, client=pipe)
            return [int(r) for r in await pipe.execute()]

    @_unavailable_on_error
    async def get_states(self, user_ids: list[str]) -> dict[str, str]:
        if not user_ids:
            return {}
        values = await self._redis.mget([self._k("state", u) for u in user_ids])
        return {u: v.split("\t", 2)[2] for u, v in zip(user_ids, values, strict=True) if v is not None}

    async def close(self) -> None:
        await self._redis.aclose()
