"""In-process presence: the default with one worker and no Redis. A real implementation, not a test double."""

from __future__ import annotations

from collections import defaultdict

from connectnow.realtime.presence import (
    NO_OVERRIDE,
    SWAP_CHANGED,
    SWAP_REFRESHED,
    SWAP_SAME,
    Close,
    LiveConnection,
    Override,
    Swap,
    UserView,
)


class MemoryPresence:
    def __init__(self) -> None:
        self._expiry: dict[str, dict[str, int]] = defaultdict(dict)  # user -> sid -> expiry
        self._activity: dict[str, dict[str, int]] = defaultdict(dict)  # user -> sid -> last activity
        self._checks: dict[str, int] = {}  # user -> when to look again
        self._overrides: dict[str, Override] = {}
        self._states: dict[str, tuple[str, int, str]] = {}  # user -> (key, activity, record)

    async def add_connection(self, user_id: str, sid: str, now_ms: int, ttl_ms: int) -> None:
        self._expiry[user_id][sid] = now_ms + ttl_ms
        self._activity[user_id][sid] = now_ms
        self._checks[user_id] = max(self._checks.get(user_id, 0), now_ms + ttl_ms)

    async def heartbeat(self, entries: dict[str, dict[str, int]], now_ms: int, ttl_ms: int) -> bool:
        for user_id, sids in entries.items():
            for sid, activity in sids.items():
                self._expiry[user_id][sid] = now_ms + ttl_ms
                self._activity[user_id][sid] = max(activity, self._activity[user_id].get(sid, 0))
            self._checks[user_id] = max(self._checks.get(user_id, 0), now_ms + ttl_ms)
        return False  # the process holding this state is the one asking: it cannot have lost it

    async def heal(self, until_ms: int) -> None:
        return None  # nothing to heal from: this state lives and dies with the only worker

    async def remove_connections(self, closes: list[Close]) -> None:
        for user_id, sid, activity_ms, linger_until_ms in closes:
            self._expiry[user_id][sid] = linger_until_ms
            self._activity[user_id][sid] = max(activity_ms, self._activity[user_id].get(sid, 0))
            self._checks[user_id] = min(self._checks.get(user_id, linger_until_ms), linger_until_ms)

    async def read(self, user_ids: list[str], now_ms: int) -> dict[str, UserView]:
        return {user_id: self._read(user_id, now_ms) for user_id in user_ids}

    def _read(self, user_id: str, now_ms: int) -> UserView:
        expiry = self._expiry.get(user_id, {})
        activity = self._activity.get(user_id, {})
        lapsed_activity = 0
        for sid in [s for s, until in expiry.items() if until <= now_ms]:
            del expiry[sid]
            lapsed_activity = max(lapsed_activity, activity.pop(sid, 0))
        live = [LiveConnection(sid, activity.get(sid, 0), until) for sid, until in expiry.items()]
        state = self._states.get(user_id)
        return UserView(live, lapsed_activity, self._overrides.get(user_id, NO_OVERRIDE), state and state[2])

    async def due_users(self, now_ms: int, limit: int) -> list[str]:
        return [user for user, when in self._checks.items() if when <= now_ms][:limit]

    async def reschedule(self, checks: dict[str, int | None], now_ms: int) -> None:
        for user_id, at in checks.items():
            if self._checks.get(user_id, 0) > now_ms:
                continue  # moved meanwhile
            if at is None:
                self._checks.pop(user_id, None)
                self._expiry.pop(user_id, None)
                self._activity.pop(user_id, None)
            else:
                self._checks[user_id] = at

    async def set_override(self, user_id: str, override: Override) -> None:
        self._overrides[user_id] = override

    async def swap_states(self, swaps: list[Swap], throttle_ms: int) -> list[int]:
        # `Swap.offline` needs no check here: nothing runs between a caller's read and its swap in one process.
        return [self._swap(swap, throttle_ms) for swap in swaps]

    def _swap(self, swap: Swap, throttle_ms: int) -> int:
        current = self._states.get(swap.user_id)
        if current is not None and current[0] == swap.key:
            if swap.activity_ms < current[1] + throttle_ms:
                return SWAP_SAME
            self._states[swap.user_id] = (swap.key, swap.activity_ms, swap.record)
            return SWAP_REFRESHED
        self._states[swap.user_id] = (swap.key, swap.activity_ms, swap.record)
        return SWAP_CHANGED

    async def get_states(self, user_ids: list[str]) -> dict[str, str]:
        return {u: self._states[u][2] for u in user_ids if u in self._states}

    async def close(self) -> None:
        return None
