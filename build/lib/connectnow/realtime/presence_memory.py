"""In-process presence: the default with one worker and no Redis. A real implementation, not a test double."""

from __future__ import annotations

from collections import defaultdict

from connectnow.realtime.presence import LiveConnection, Override


class MemoryPresence:
    def __init__(self) -> None:
        self._expiry: dict[str, dict[str, int]] = defaultdict(dict)  # user -> sid -> expiry
        self._activity: dict[str, dict[str, int]] = defaultdict(dict)  # user -> sid -> last activity
        self._checks: dict[str, int] = {}  # user -> when to look again
        self._overrides: dict[str, Override] = {}
        self._states: dict[str, tuple[str, str]] = {}  # user -> (key, record)

    async def add_connection(self, user_id: str, sid: str, now_ms: int, ttl_ms: int) -> None:
        self._expiry[user_id][sid] = now_ms + ttl_ms
        self._activity[user_id][sid] = now_ms
        self._checks[user_id] = max(self._checks.get(user_id, 0), now_ms + ttl_ms)

    async def heartbeat(self, entries: dict[str, dict[str, int]], now_ms: int, ttl_ms: int) -> None:
        for user_id, sids in entries.items():
            for sid, activity in sids.items():
                if sid in self._expiry.get(user_id, {}):
                    self._expiry[user_id][sid] = now_ms + ttl_ms
                    self._activity[user_id][sid] = max(activity, self._activity[user_id].get(sid, 0))
            self._checks[user_id] = max(self._checks.get(user_id, 0), now_ms + ttl_ms)

    async def remove_connection(self, user_id: str, sid: str, check_at_ms: int) -> None:
        self._expiry.get(user_id, {}).pop(sid, None)
        self._activity.get(user_id, {}).pop(sid, None)
        self._checks[user_id] = max(self._checks.get(user_id, 0), check_at_ms)

    async def live_connections(self, user_id: str, now_ms: int) -> list[LiveConnection]:
        expiry = self._expiry.get(user_id, {})
        for sid in [s for s, until in expiry.items() if until <= now_ms]:
            del expiry[sid]
            self._activity[user_id].pop(sid, None)
        activity = self._activity.get(user_id, {})
        return [LiveConnection(sid, activity.get(sid, 0)) for sid in expiry]

    async def due_users(self, now_ms: int, limit: int) -> list[str]:
        return [user for user, when in self._checks.items() if when <= now_ms][:limit]

    async def schedule_check(self, user_id: str, at_ms: int) -> None:
        self._checks[user_id] = at_ms

    async def forget_user(self, user_id: str) -> None:
        self._checks.pop(user_id, None)
        self._expiry.pop(user_id, None)
        self._activity.pop(user_id, None)

    async def get_override(self, user_id: str) -> Override:
        return self._overrides.get(user_id, Override(None, None, 0))

    async def set_override(self, user_id: str, override: Override) -> None:
        self._overrides[user_id] = override

    async def swap_state(self, user_id: str, key: str, record: str) -> bool:
        changed = self._states.get(user_id, ("", ""))[0] != key
        if changed:
            self._states[user_id] = (key, record)
        return changed

    async def get_states(self, user_ids: list[str]) -> dict[str, str]:
        return {u: self._states[u][1] for u in user_ids if u in self._states}

    async def close(self) -> None:
        return None
