"""Presence (seed 002 USER_PRESENCE): what clients see and send."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from models.base import IdStr, InputModel, Text, UtcDateTime, WireModel


class PresencePublic(WireModel):
    user_id: str
    status: Literal["ONLINE", "AWAY", "BUSY", "OFFLINE"]
    status_text: str | None = None
    last_active_at: UtcDateTime | None = None


class PresenceSet(InputModel):
    """Choose a status: BUSY (do not disturb) or AWAY, optionally until a time; ONLINE clears the choice."""

    status: Literal["ONLINE", "AWAY", "BUSY"]
    status_text: Annotated[str, Text(0, 100)] | None = None
    expires_in_seconds: int | None = Field(None, ge=60, le=30 * 24 * 3600)


class PresenceQuery(InputModel):
    user_ids: list[IdStr] = Field(min_length=1, max_length=200)
