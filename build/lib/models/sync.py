"""Gap-free recovery after a reconnect: what a client asks and what it gets (docs/PROTOCOL.md, "Recovery")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from models.base import IdStr, InputModel, WireModel

ConversationKind = Literal["channel", "dm"]


class SyncCursor(InputModel):
    kind: ConversationKind
    id: IdStr
    last_event_seq: int = Field(ge=0, le=2**53)


class SyncRequest(InputModel):
    conversations: list[SyncCursor] = Field(min_length=1, max_length=100)


class SyncGap(WireModel):
    from_event_seq: int
    to_event_seq: int


class SyncResult(WireModel):
    kind: ConversationKind
    id: str
    recovered: bool
    latest_event_seq: int
    # Recovered: every message created or changed since lastEventSeq, in its current state, oldest change first.
    messages: list[Any] = Field(default_factory=list)
    # Not recovered (more changes than the bound): the gap and a REST cursor to page through it.
    gap: SyncGap | None = None
    cursor: str | None = None
    error: dict[str, Any] | None = None


class SyncPage(WireModel):
    kind: ConversationKind
    id: str
    messages: list[Any]
    next_cursor: str | None = None
    latest_event_seq: int
