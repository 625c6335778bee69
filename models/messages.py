"""Channel messages and reactions (seed 002 MESSAGES, MESSAGE_REACTIONS): stored form, views, inputs."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import emoji
from pydantic import AfterValidator, Field, StringConstraints

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.bounds import INT64_MAX

# The hard ceiling on the wire; the configurable limit (CONNECTNOW_MESSAGE_MAX_CHARS) is checked by the service.
CONTENT_HARD_MAX_CHARS = 20_000
ClientMsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# One emoji (as Unicode defines them, skin tones and ZWJ sequences included, per the `emoji` package) or a
# :shortcode: of lowercase letters, digits, _, + and -; never a path, markup or percent-escape.
_SHORTCODE = re.compile(r":[a-z0-9_+\-]{1,62}:")


def _one_emoji(value: str) -> str:
    if not (_SHORTCODE.fullmatch(value) or emoji.is_emoji(value)):
        raise ValueError("a reaction is one emoji or a :shortcode: (lowercase letters, digits, _ + -)")
    return value


Emoji = Annotated[str, Text(1, 64, strip=False), AfterValidator(_one_emoji)]


class MessageType(StrEnum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    FILE = "FILE"
    VIDEO = "VIDEO"
    AUDIO = "AUDIO"
    SYSTEM = "SYSTEM"


class MessageRecord(StoredModel):
    channel_id: str
    workspace_id: str
    user_id: str
    content: str
    type: MessageType = MessageType.TEXT
    parent_id: str | None = None
    title: str | None = None  # FORUM posts
    client_msg_id: str
    dedupe_key: str
    seq: int | None = None
    last_event_seq: int = 0
    version: int = 1
    is_edited: bool = False
    edited_at: UtcDateTime | None = None
    is_deleted: bool = False
    deleted_at: UtcDateTime | None = None
    is_pinned: bool = False
    pinned_at: UtcDateTime | None = None
    pinned_by: str | None = None
    reply_count: int = 0
    last_reply_at: UtcDateTime | None = None
    mentions: list[str] = Field(default_factory=list)
    broadcast: str | None = None  # "here" or "channel" when the content has @here / @channel
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    is_bot: bool = False
    via: str | None = None  # "api" when posted with an API key
    system_event: str | None = None  # for SYSTEM messages: "member.joined", "topic.changed", ...
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ReactionRecord(StoredModel):
    message_id: str
    channel_id: str
    user_id: str
    emoji: str
    created_at: UtcDateTime


class ReactionSummary(WireModel):
    emoji: str
    count: int
    user_ids: list[str]


class MessagePublic(WireModel):
    """A message as every reader of its channel sees it; deleted messages are tombstones."""

    id: str
    channel_id: str
    workspace_id: str
    user_id: str
    content: str
    type: MessageType
    parent_id: str | None = None
    title: str | None = None
    client_msg_id: str
    seq: int
    last_event_seq: int
    version: int
    is_edited: bool
    edited_at: UtcDateTime | None = None
    is_deleted: bool
    deleted_at: UtcDateTime | None = None
    is_pinned: bool
    pinned_at: UtcDateTime | None = None
    pinned_by: str | None = None
    reply_count: int
    last_reply_at: UtcDateTime | None = None
    mentions: list[str]
    broadcast: str | None = None
    attachments: list[dict[str, Any]]
    reactions: list[ReactionSummary] = Field(default_factory=list)
    is_bot: bool
    via: str | None = None
    system_event: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MessageSend(InputModel):
    channel_id: IdStr
    content: Annotated[str, Text(0, CONTENT_HARD_MAX_CHARS)] = ""
    type: MessageType = MessageType.TEXT
    parent_id: IdStr | None = None
    title: Annotated[str, Text(1, 200)] | None = None  # FORUM channels: every top-level post has one
    client_msg_id: ClientMsgId
    attachment_ids: list[IdStr] = Field(default_factory=list, max_length=10)


class MessagePost(InputModel):
    """REST body for POST /channels/{id}/messages (the channel comes from the path)."""

    content: Annotated[str, Text(0, CONTENT_HARD_MAX_CHARS)] = ""
    type: MessageType = MessageType.TEXT
    parent_id: IdStr | None = None
    title: Annotated[str, Text(1, 200)] | None = None
    client_msg_id: ClientMsgId | None = None
    attachment_ids: list[IdStr] = Field(default_factory=list, max_length=10)


class MessageEdit(InputModel):
    message_id: IdStr
    content: Annotated[str, Text(1, CONTENT_HARD_MAX_CHARS)]
    version: int = Field(ge=1, le=INT64_MAX, strict=True)


class MessagePatch(InputModel):
    content: Annotated[str, Text(1, CONTENT_HARD_MAX_CHARS)]
    version: int = Field(ge=1, le=INT64_MAX, strict=True)


class MessageRef(InputModel):
    message_id: IdStr


class ReactionIn(InputModel):
    message_id: IdStr
    emoji: Emoji


class EmojiIn(InputModel):
    emoji: Emoji


class HistoryWindow(InputModel):
    """A page of a conversation by `seq`: before, after, or around one (at most one of them), 1..100."""

    before: int | None = Field(None, ge=0, le=INT64_MAX, strict=True)
    after: int | None = Field(None, ge=0, le=INT64_MAX, strict=True)
    around: int | None = Field(None, ge=0, le=INT64_MAX, strict=True)
    limit: int = Field(50, ge=1, le=100, strict=True)


class HistoryQuery(HistoryWindow):
    channel_id: IdStr


class ThreadQuery(InputModel):
    message_id: IdStr
    after: int | None = Field(None, ge=0, le=INT64_MAX, strict=True)
    limit: int = Field(50, ge=1, le=100, strict=True)


class SearchQuery(InputModel):
    workspace_id: IdStr
    query: Annotated[str, Text(1, 200)]
    channel_id: IdStr | None = None
    limit: int = Field(20, ge=1, le=50, strict=True)


class ChannelRef(InputModel):
    channel_id: IdStr


class MarkRead(InputModel):
    channel_id: IdStr
    message_id: IdStr


class ReadReceipt(WireModel):
    user_id: str
    last_read_message_id: str | None = None
    last_read_seq: int = 0
    last_read_at: UtcDateTime | None = None


class UnreadCount(WireModel):
    channel_id: str
    unread: int
    mentions: int
    badge: int  # what to show: unread, or unread mentions when muted / MENTIONS, or 0 for NOTHING
    is_muted: bool
    notify: str
    last_seq: int
    last_read_seq: int
