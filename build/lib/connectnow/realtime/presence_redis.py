"""Presence in Redis, shared by every worker.

Keys (under `{prefix}:presence`):
- `conns:{user}`   sorted set, sid -> expiry; a worker's heartbeat pushes its sids' expiries forward
- `act:{user}`     hash, sid -> last activity
- `due`            sorted set, user -> when to look at the user again (latest expiry or end of grace)
- `override:{user}` hash: status, text, until
- `state:{user}`   the last published state; swapped by a Lua script so one worker publishes a change
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from connectnow.realtime.presence import LiveConnection, Override, PresenceStatus

# Keys unused for a day are dropped: presence is rebuilt from live connections anyway.
IDLE_KEY_TTL_SECONDS = 24 * 3600

# KEYS[1]: the state key (its value is key, a tab, then the record). Changes only when the key differs.
_SWAP = """
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '\t' then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. '\t' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


class RedisPresence:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis: Any = aioredis.from_url(url, decode_responses=True)
        self._p = f"{prefix}:presence"
        self._swap = self._redis.register_script(_SWAP)

    def _k(self, kind: str, user_id: str | None = None) -> str:
        return f"{self._p}:{kind}" if user_id is None else f"{self._p}:{kind}:{user_id}"

    async def add_connection(self, user_id: str, sid: str, now_ms: int, ttl_ms: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._k("conns", user_id), {sid: now_ms + ttl_ms})
            pipe.hset(self._k("act", user_id), sid, now_ms)
            pipe.zadd(self._k("due"), {user_id: now_ms + ttl_ms}, gt=True)  # GT still adds a new member
            pipe.expire(self._k("conns", user_id), IDLE_KEY_TTL_SECONDS)
            pipe.expire(self._k("act", user_id), IDLE_KEY_TTL_SECONDS)
            await pipe.execute()

    async def heartbeat(self, entries: dict[str, dict[str, int]], now_ms: int, ttl_ms: int) -> None:
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, sids in entries.items():
                pipe.zadd(self._k("conns", user_id), dict.fromkeys(sids, now_ms + ttl_ms), xx=True)
                pipe.hset(self._k("act", user_id), mapping={sid: str(ts) for sid, ts in sids.items()})
                pipe.zadd(self._k("due"), {user_id: now_ms + ttl_ms}, gt=True)
                pipe.expire(self._k("conns", user_id), IDLE_KEY_TTL_SECONDS)
                pipe.expire(self._k("act", user_id), IDLE_KEY_TTL_SECONDS)
            await pipe.execute()

    async def remove_connection(self, user_id: str, sid: str, check_at_ms: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._k("conns", user_id), sid)
            pipe.hdel(self._k("act", user_id), sid)
            pipe.zadd(self._k("due"), {user_id: check_at_ms}, gt=True)
            await pipe.execute()

    async def live_connections(self, user_id: str, now_ms: int) -> list[LiveConnection]:
        conns = self._k("conns", user_id)
        lapsed = await self._redis.zrangebyscore(conns, "-inf", now_ms)
        if lapsed:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zrem(conns, *lapsed)
                pipe.hdel(self._k("act", user_id), *lapsed)
                await pipe.execute()
        sids = await self._redis.zrangebyscore(conns, f"({now_ms}", "+inf")
        if not sids:
            return []
        activity = await self._redis.hmget(self._k("act", user_id), sids)
        return [LiveConnection(sid, int(ts or 0)) for sid, ts in zip(sids, activity, strict=True)]

    async def due_users(self, now_ms: int, limit: int) -> list[str]:
        users: list[str] = await self._redis.zrangebyscore(self._k("due"), "-inf", now_ms, start=0, num=limit)
        return users

    async def schedule_check(self, user_id: str, at_ms: int) -> None:
        await self._redis.zadd(self._k("due"), {user_id: at_ms})

    async def forget_user(self, user_id: str) -> None:
        await self._redis.zrem(self._k("due"), user_id)

    async def get_override(self, user_id: str) -> Override:
        raw = await self._redis.hgetall(self._k("override", user_id))
        status = PresenceStatus(raw["status"]) if raw.get("status") else None
        return Override(status, raw.get("text") or None, int(raw.get("until", 0)))

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

    async def swap_state(self, user_id: str, key: str, record: str) -> bool:
        changed = await self._swap(keys=[self._k("state", user_id)], args=[key, record, IDLE_KEY_TTL_SECONDS])
        return bool(changed)

    async def get_states(self, user_ids: list[str]) -> dict[str, str]:
        if not user_ids:
            return {}
        values = await self._redis.mget([self._k("state", u) for u in user_ids])
        return {u: v.split("\t", 1)[1] for u, v in zip(user_ids, values, strict=True) if v is not None}

    async def close(self) -> None:
        await self._redis.aclose()
