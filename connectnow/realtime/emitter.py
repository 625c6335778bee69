"""The one seam between the services and the realtime layer: what a service may ask of the hub.

`connectnow.realtime.hub.Hub` implements it; services type their hub as `Emitter` (tests pass the real Hub,
recording what it sends). Emit only after the write is stored (docs/ARCHITECTURE.md, "Realtime").
"""

from __future__ import annotations

from typing import Any, Protocol

from connectnow.realtime.ops import Room


class Emitter(Protocol):
    async def emit(
        self, event: str, data: Any, *, room: Room, skip_sid: str | None = None, skip_user: str | None = None
    ) -> None:
        """Deliver to every socket in the room(s) on every worker, each socket once. `skip_sid` leaves out
        the sender's socket, `skip_user` every socket of that user (a typist's own devices)."""
        ...

    async def join_user(self, user_id: str, room: str) -> None:
        """Put every socket of a user, on every worker, into a room."""
        ...

    async def leave_user(self, user_id: str, room: str) -> None: ...
