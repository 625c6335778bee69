"""Channels and channel members (seed 002 CHANNELS, CHANNEL_MEMBERS)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel

# Lower-case words joined by - or _: what users type after '#'.
ChannelName = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
]
DEFAULT_CHANNEL = "general"


class ChannelType(StrEnum):
    TEXT = "TEXT"
    VOICE = "VOICE"
    FORUM = "FORUM"


class ChannelRole(StrEnum):
    """A role inside one channel, on top of the workspace role (docs/ROLES.md)."""

    ADMIN = "ADMIN"  # the channel's creator and anyone promoted: moderates and sets channel roles
    MODERATOR = "MODERATOR"  # topic, remove members, pin, delete anyone's message in this channel
    MEMBER = "MEMBER"


class NotifyLevel(StrEnum):
    """Per-channel notification preference (docs/PROTOCOL.md "Notifications")."""

    ALL = "ALL"  # badge counts every unread message; mentions, @here and @channel notify
    MENTIONS = "MENTIONS"  # badge counts unread mentions only; mentions, @here and @channel notify
    NOTHING = "NOTHING"  # no badge and no mention events from this channel


class ChannelRecord(StoredModel):
    workspace_id: str
    name: str
    name_lower: str
    description: str | None = None
    topic: str | None = None
    type: ChannelType = ChannelType.TEXT
    is_private: bool = False
    is_archived: bool = False
    is_default: bool = False
    position: int = 0
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ChannelMemberRecord(StoredModel):
    channel_id: str
    workspace_id: str
    user_id: str
    role: ChannelRole = ChannelRole.MEMBER
    is_muted: bool = False
    notify: NotifyLevel = NotifyLevel.ALL
    last_read_at: UtcDateTime | None = None
    last_read_message_id: str | None = None
    last_read_seq: int = 0
    joined_at: UtcDateTime


class ChannelPublic(WireModel):
    id: str
    workspace_id: str
    name: str
    description: str | None = None
    topic: str | None = None
    type: ChannelType
    is_private: bool
    is_archived: bool
    is_default: bool
    position: int
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    is_member: bool | None = None


class ChannelMemberPublic(WireModel):
    channel_id: str
    user_id: str
    role: ChannelRole
    is_muted: bool
    notify: NotifyLevel = NotifyLevel.ALL
    last_read_at: UtcDateTime | None = None
    last_read_message_id: str | None = None
    last_read_seq: int
    joined_at: UtcDateTime


class ChannelCreate(InputModel):
    workspace_id: IdStr
    name: ChannelName
    description: Annotated[str, Text(0, 1000)] | None = None
    topic: Annotated[str, Text(0, 250)] | None = None
    type: ChannelType = ChannelType.TEXT
    is_private: bool = Field(False, strict=True)
    position: int | None = Field(None, ge=0, le=100_000, strict=True)
    member_ids: list[IdStr] = Field(default_factory=list, max_length=100)


class ChannelUpdate(InputModel):
    channel_id: IdStr
    name: ChannelName | None = None
    description: Annotated[str, Text(0, 1000)] | None = None
    topic: Annotated[str, Text(0, 250)] | None = None
    is_private: bool | None = Field(None, strict=True)
    position: int | None = Field(None, ge=0, le=100_000, strict=True)


class ChannelMemberChange(InputModel):
    channel_id: IdStr
    user_id: IdStr


class ChannelRoleChange(InputModel):
    channel_id: IdStr
    user_id: IdStr
    role: ChannelRole


class ChannelMute(InputModel):
    channel_id: IdStr
    is_muted: bool = Field(strict=True)


class ChannelPreferences(InputModel):
    channel_id: IdStr
    is_muted: bool | None = Field(None, strict=True)
    notify: NotifyLevel | None = None


class ChannelList(InputModel):
    workspace_id: IdStr
