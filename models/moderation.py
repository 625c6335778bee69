"""Moderation records: what a deleted channel message said, kept for review until the retention ends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel


class ModerationRecord(StoredModel):
    workspace_id: str
    channel_id: str
    message_id: str
    author_id: str
    deleted_by: str
    title: str | None = None  # a FORUM post's
    content: str
    mentions: list[str] = Field(default_factory=list)
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    message_created_at: UtcDateTime
    deleted_at: UtcDateTime
    purge_at: UtcDateTime  # the retention end: the purge job erases content and files then
    status: str = "kept"  # kept -> running (leased by the purge job) -> purged
    attempts: int = 0


class ModerationPublic(WireModel):
    workspace_id: str
    channel_id: str
    message_id: str
    author_id: str
    deleted_by: str
    title: str | None = None
    content: str
    mentions: list[str]
    attachments: list[dict[str, Any]]
    message_created_at: UtcDateTime
    deleted_at: UtcDateTime
    purge_at: UtcDateTime


class ModerationList(InputModel):
    workspace_id: IdStr
    limit: int = Field(50, ge=1, le=100, strict=True)


class ReportRecord(StoredModel):
    workspace_id: str
    channel_id: str
    message_id: str
    reporter_id: str
    reason: str
    status: str = "open"  # open -> resolved
    resolved_by: str | None = None
    resolved_at: UtcDateTime | None = None
    created_at: UtcDateTime


class ReportPublic(WireModel):
    id: str
    workspace_id: str
    channel_id: str
    message_id: str
    reporter_id: str
    reason: str
    status: str
    resolved_by: str | None = None
    resolved_at: UtcDateTime | None = None
    created_at: UtcDateTime


class ReportIn(InputModel):
    message_id: IdStr
    reason: Annotated[str, Text(1, 500)]


class ReportRef(InputModel):
    report_id: IdStr


class ReportList(InputModel):
    workspace_id: IdStr
    status: Literal["open", "resolved"] = "open"
    limit: int = Field(50, ge=1, le=100, strict=True)
