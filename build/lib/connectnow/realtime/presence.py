"""Presence back-ends: where each worker keeps the connections and statuses every worker can see.

The rules (connectnow/services/presence.py) are written once over `PresenceBackend`; `presence_memory.py`
serves one worker, `presence_redis.py` any number. Every connection is an entry with an expiry that its
worker's heartbeat pushes forward, so the connections of a crashed worker lapse and nobody stays online
forever. Times are milliseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PresenceStatus(StrEnum):
    ONLINE = "ONLINE"
    AWAY = "AWAY"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


@dataclass(frozen=True, slots=True)
class Override:
    """A status the user chose (BUSY or AWAY), until `until_ms` (0: until they change it)."""

    status: PresenceStatus | None
    text: str | None
    until_ms: int


@dataclass(frozen=True, slots=True)
class LiveConnection:
    sid: str
    last_activity_ms: int


class PresenceBackend(Protocol):
    async def add_connection(self, user_id: str, sid: str, now_ms: int, ttl_ms: int) -> None: ...

    async def heartbeat(self, entries: dict[str, dict[str, int]], now_ms: int, ttl_ms: int) -> None:
        """Extend this worker's connections: {user_id: {sid: last_activity_ms}}."""
        ...

    async def remove_connection(self, user_id: str, sid: str, check_at_ms: int) -> None:
        """Drop a connection and look at the user again at `check_at_ms` (the offline grace period)."""
        ...

    async def live_connections(self, user_id: str, now_ms: int) -> list[LiveConnection]: ...

    async def due_users(self, now_ms: int, limit: int) -> list[str]:
        """Users whose connections may all have lapsed by now."""
        ...

    async def schedule_check(self, user_id: str, at_ms: int) -> None: ...

    async def forget_user(self, user_id: str) -> None: ...

    async def get_override(self, user_id: str) -> Override: ...

    async def set_override(self, user_id: str, override: Override) -> None: ...

    async def swap_state(self, user_id: str, key: str, record: str) -> bool:
        """Store `record` as the user's state if its `key` (status and text) differs from the stored one.

        True only for the one caller that changed it: that caller publishes the change."""
        ...

    async def get_states(self, user_ids: list[str]) -> dict[str, str]:
        """The stored records (without their keys)."""
        ...

    async def close(self) -> None: ...
