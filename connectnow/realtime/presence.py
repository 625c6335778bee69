"""Presence back-ends: where each worker keeps the connections and statuses every worker can see.

The rules (connectnow/services/presence.py) are written once over `PresenceBackend`; `presence_memory.py`
serves one worker, `presence_redis.py` any number. Every connection is an entry with an expiry that its
worker's heartbeat pushes forward (re-creating it if the back-end lost it), so the connections of a crashed
worker lapse and nobody stays online forever. A closed connection is not deleted: its expiry is set to the
end of the offline grace period, so "offline" is decided by the same lapse rule on every back-end. Times are
milliseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol


class PresenceStatus(StrEnum):
    ONLINE = "ONLINE"
    AWAY = "AWAY"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


class PresenceUnavailable(Exception):
    """The shared back-end cannot be reached (Redis down): each worker serves its own view meanwhile."""


@dataclass(frozen=True, slots=True)
class Override:
    """A status the user chose (BUSY or AWAY), until `until_ms` (0: until they change it)."""

    status: PresenceStatus | None
    text: str | None
    until_ms: int


NO_OVERRIDE = Override(None, None, 0)


@dataclass(frozen=True, slots=True)
class LiveConnection:
    sid: str
    last_activity_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class UserView:
    """What the back-end knows of one user, read in one round trip (entries that lapsed are dropped by it)."""

    live: list[LiveConnection]
    lapsed_activity_ms: int  # the latest activity of the entries that lapsed in this read (0: none)
    override: Override
    record: str | None  # the last published state (see `swap_states`), None if never or lost


class Swap(NamedTuple):
    user_id: str
    key: str  # status and text: a different key is a change to announce
    activity_ms: int  # lastActiveAt: a newer one is written, at most once per `throttle_ms`, without announcing
    record: str
    offline: bool  # refused if a connection appeared since the read: a reconnect wins over a lapse


class Close(NamedTuple):
    user_id: str
    sid: str
    activity_ms: int  # the socket's last activity: "last seen" once the user is OFFLINE
    linger_until_ms: int  # closed at + the offline grace period


SWAP_SAME, SWAP_CHANGED, SWAP_REFRESHED = 0, 1, 2


class PresenceBackend(Protocol):
    async def add_connection(self, user_id: str, sid: str, now_ms: int, ttl_ms: int) -> None: ...

    async def heartbeat(self, entries: dict[str, dict[str, int]], now_ms: int, ttl_ms: int) -> bool:
        """(Re-)create and extend this worker's connections: {user_id: {sid: last_activity_ms}}.

        True when the back-end holds no data from before (first start, or lost in a restart or flush)."""
        ...

    async def heal(self, until_ms: int) -> None:
        """Until then no worker treats an entry as lapsed (`due_users` is empty): after an outage or data
        loss, every worker has time to re-register its sockets before anyone is declared OFFLINE."""
        ...

    async def remove_connections(self, closes: list[Close]) -> None:
        """Closed connections: each counts as live until its `linger_until_ms` (the grace period), then lapses."""
        ...

    async def read(self, user_ids: list[str], now_ms: int) -> dict[str, UserView]: ...

    async def due_users(self, now_ms: int, limit: int) -> list[str]:
        """Users with an entry that may have lapsed by now (empty while healing after data loss)."""
        ...

    async def reschedule(self, checks: dict[str, int | None], now_ms: int) -> None:
        """Look at each user again at the given time (None: forget them), unless someone moved the check
        into the future meanwhile (a new connection or a close)."""
        ...

    async def set_override(self, user_id: str, override: Override) -> None: ...

    async def swap_states(self, swaps: list[Swap], throttle_ms: int) -> list[int]:
        """Per swap: SWAP_CHANGED for the one caller that changed the key (it announces the change),
        SWAP_REFRESHED when only a newer lastActiveAt was written, SWAP_SAME otherwise."""
        ...

    async def get_states(self, user_ids: list[str]) -> dict[str, str]:
        """The stored records (without their keys)."""
        ...

    async def close(self) -> None: ...
