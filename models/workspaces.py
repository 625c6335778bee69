"""Workspaces, members, invites and bans (seed 002 WORKSPACES, WORKSPACE_MEMBERS)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.users import Url


class MemberRole(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MODERATOR = "MODERATOR"
    MEMBER = "MEMBER"
    GUEST = "GUEST"


Nickname = Annotated[str, Text(1, 64)]
InviteCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class WorkspaceRecord(StoredModel):
    name: str
    slug: str
    description: str | None = None
    icon_url: str | None = None
    owner_id: str
    is_public: bool = False
    allow_broad_mentions: bool = False  # @here / @channel by every member, not only MODERATOR+
    created_at: UtcDateTime
    updated_at: UtcDateTime


class WorkspaceMemberRecord(StoredModel):
    workspace_id: str
    user_id: str
    role: MemberRole
    nickname: str | None = None
    joined_at: UtcDateTime


class InviteRecord(StoredModel):
    workspace_id: str
    code_hash: str  # sha256 of the code: the code itself is shown once and never stored
    created_by: str
    expires_at: UtcDateTime | None = None
    max_uses: int | None = None
    uses: int = 0
    revoked_at: UtcDateTime | None = None
    created_at: UtcDateTime


class BanRecord(StoredModel):
    workspace_id: str
    user_id: str
    banned_by: str
    reason: str | None = None
    created_at: UtcDateTime


class WorkspacePublic(WireModel):
    id: str
    name: str
    slug: str
    description: str | None = None
    icon_url: str | None = None
    owner_id: str
    is_public: bool
    allow_broad_mentions: bool = False
    created_at: UtcDateTime
    updated_at: UtcDateTime
    my_role: MemberRole | None = None


class MemberPublic(WireModel):
    workspace_id: str
    user_id: str
    username: str | None = None
    display_name: str | None = None
    role: MemberRole
    nickname: str | None = None
    joined_at: UtcDateTime


class InvitePublic(WireModel):
    id: str
    workspace_id: str
    created_by: str
    expires_at: UtcDateTime | None = None
    max_uses: int | None = None
    uses: int
    revoked_at: UtcDateTime | None = None
    created_at: UtcDateTime


class InviteCreated(InvitePublic):
    code: str  # shown once


class BanPublic(WireModel):
    workspace_id: str
    user_id: str
    banned_by: str
    reason: str | None = None
    created_at: UtcDateTime


class WorkspaceCreate(InputModel):
    name: Annotated[str, Text(1, 80)]
    description: Annotated[str, Text(0, 1000)] | None = None
    icon_url: Url | None = None
    is_public: bool = Field(False, strict=True)


class WorkspaceUpdate(InputModel):
    workspace_id: IdStr
    name: Annotated[str, Text(1, 80)] | None = None
    description: Annotated[str, Text(0, 1000)] | None = None
    icon_url: Url | None = None
    is_public: bool | None = Field(None, strict=True)
    allow_broad_mentions: bool | None = Field(None, strict=True)


class WorkspaceRef(InputModel):
    workspace_id: IdStr


class InviteCreate(InputModel):
    workspace_id: IdStr
    expires_in_seconds: int | None = Field(None, ge=60, le=90 * 24 * 3600, strict=True)
    max_uses: int | None = Field(None, ge=1, le=100_000, strict=True)


class InviteRevoke(InputModel):
    workspace_id: IdStr
    invite_id: IdStr


class JoinByCode(InputModel):
    code: InviteCode


class MemberRef(InputModel):
    workspace_id: IdStr
    user_id: IdStr


class MemberUpdate(InputModel):
    workspace_id: IdStr
    user_id: IdStr
    role: MemberRole | None = None
    nickname: Nickname | None = None


class BanCreate(InputModel):
    workspace_id: IdStr
    user_id: IdStr
    reason: Annotated[str, Text(0, 500)] | None = None


def is_expired(invite: InviteRecord, now: datetime) -> bool:
    return invite.expires_at is not None and invite.expires_at <= now


class MemberSearch(InputModel):
    """The member directory: `query` matches username, display name or nickname (any part, any case)."""

    workspace_id: IdStr
    query: Annotated[str, Text(0, 64)] = ""
    after: Annotated[str, Text(1, 64)] | None = None  # the previous page's `nextCursor`
    limit: int = Field(50, ge=1, le=100, strict=True)


class MemberPage(WireModel):
    members: list[MemberPublic]
    next_cursor: str | None = None  # None: this was the last page
