"""Recurring broadcasts (issue 19): an RRULE in a time zone; each occurrence becomes one scheduled message."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.broadcasts import RequestId, Target, TargetRef, TimeZoneName

RRuleText = Annotated[str, StringConstraints(min_length=6, max_length=300, pattern=r"^[A-Za-z0-9=;,:+-]+$")]


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    ADVANCING = "advancing"  # a scheduler is turning its next occurrence into a scheduled message
    PAUSED = "paused"
    ENDED = "ended"


class SeriesCreate(InputModel):
    """`startAt` is a local time (no offset) in `timeZone`; `rrule` is RFC 5545 RRULE parts (`FREQ=WEEKLY;BYDAY=SU`)."""

    target: Target
    message: Annotated[str, Text(1, 4000, strip=False)] | None = None
    template_id: IdStr | None = None
    category: Annotated[str, Text(1, 60)] | None = None
    rrule: RRuleText
    start_at: datetime
    time_zone: TimeZoneName
    client_request_id: RequestId | None = None


class SeriesRecord(StoredModel):
    user_id: str
    target: TargetRef
    target_key: str
    request_key: str | None = None
    message: str
    template_id: str | None = None
    category: str | None = None
    rrule: str
    start_local: str  # ISO local time, no offset: the rule's DTSTART in `time_zone`
    time_zone: str
    last_local: str | None = None  # a COUNT rule's last occurrence (local ISO)
    status: SeriesStatus
    cursor_local: str | None = None  # the last occurrence handled (local ISO); None before the first
    next_occurrence_at: UtcDateTime | None = None  # the next occurrence to turn into a message
    next_run_at: UtcDateTime  # when a scheduler turns it into a message (the lease queue's due time)
    occurrences: int = 0  # turned into scheduled messages
    skipped: int = 0  # missed (server down past the grace) or refused (lastError says why)
    last_error: str | None = None
    ended_reason: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SeriesPublic(WireModel):
    id: str
    target: TargetRef
    message: str
    template_id: str | None = None
    category: str | None = None
    rrule: str
    start_at: str
    time_zone: str
    status: SeriesStatus
    next_occurrence_at: UtcDateTime | None = None
    occurrences: int
    skipped: int
    last_error: str | None = None
    ended_reason: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
