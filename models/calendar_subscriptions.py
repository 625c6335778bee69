"""Calendars subscribed to an ICS URL (issue 19): read-only, refreshed by a leased job."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from models.base import InputModel, StoredModel, UtcDateTime, WireModel
from models.calendar import HexColor, Name

IcsUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$")]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    FETCHING = "fetching"


class SubscriptionCreate(InputModel):
    url: IcsUrl
    name: Name
    color: HexColor = "#3366CC"
    refresh_interval_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60  # at least the server's minimum


class SubscriptionRecord(StoredModel):
    user_id: str
    calendar_id: str
    url: str
    interval_seconds: int
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    next_fetch_at: UtcDateTime
    etag: str | None = None
    last_modified: str | None = None
    last_fetched_at: UtcDateTime | None = None
    last_success_at: UtcDateTime | None = None
    last_status: str | None = None  # "updated", "notModified" or "error"
    last_error: str | None = None
    last_error_code: str | None = None
    consecutive_failures: int = 0
    created_at: UtcDateTime


class SubscriptionPublic(WireModel):
    id: str
    calendar_id: str
    url: str
    refresh_interval_minutes: int
    next_fetch_at: UtcDateTime
    last_fetched_at: UtcDateTime | None = None
    last_success_at: UtcDateTime | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    consecutive_failures: int
    created_at: UtcDateTime
