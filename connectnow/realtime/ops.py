"""The hub's operations on the broker, one typed shape per operation.

The broker carries JSON objects between workers; these TypedDicts are the shapes the hub writes and reads
(`op` names the operation). A service's own operations (`Hub.publish_op`, `Hub.on_op`: the dashboard's samples,
VOICE calls) are plain objects with `op` and the service's fields. `ts` is stamped by the publishing hub
(fan-out latency in /metrics).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Room = str | list[str]
DisconnectBy = Literal["user", "session", "apiKey"]


class EmitOp(TypedDict):
    """An event for every local socket in `room` (minus `skip` and `skipUser`'s sockets)."""

    op: Literal["emit"]
    event: str
    data: Any  # already in wire form (models dumped with camelCase aliases)
    room: Room
    skip: str | None
    skipUser: NotRequired[str]
    ts: NotRequired[float]


class JoinOp(TypedDict):
    """Every local socket of `userId` enters `room`."""

    op: Literal["join"]
    userId: str
    room: str
    ts: NotRequired[float]


class LeaveOp(TypedDict):
    """Every local socket of `userId` leaves `room`."""

    op: Literal["leave"]
    userId: str
    room: str
    ts: NotRequired[float]


class DisconnectOp(TypedDict):
    """Close every local socket of a user, a login session or an API key (`session:ended` first)."""

    op: Literal["disconnect"]
    by: DisconnectBy
    id: str
    reason: str
    ts: NotRequired[float]


HubOp = EmitOp | JoinOp | LeaveOp | DisconnectOp
