"""Direct conversations and messages (seed 002 DIRECT_CONVERSATIONS, DIRECT_MESSAGES).

A conversation is one pair of users, stored with `userAId < userBId` (the seed's rule) under a unique
index, so "find or create" can never make two. Messages use the shared message engine (seq, clientMsgId,
optimistic edits, soft deletes) plus `isRead`/`readAt` set when the recipient reads them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.bounds import INT64_MAX
from models.dates import ClientDateTime
from models.messages import CONTENT_HARD_MAX_CHARS, ClientMsgId, HistoryWindow, MessageType, ReactionSummary
from models.users import UserPublic


class DirectConversationRecord(StoredModel):
    user_a_id: str  # always the smaller id of the pair
    user_b_id: str
    last_message_at: UtcDateTime | None = None
    last_message_seq: int = 0
    a_last_read_seq: int = 0  # how far user A has read
    b_last_read_seq: int = 0
    created_at: UtcDateTime
    updated_at: UtcDateTime

    def has(self, user_id: str) -> bool:
        return user_id in (self.user_a_id, self.user_b_id)

    def other(self, user_id: str) -> str:
        return self.user_b_id if user_id == self.user_a_id else self.user_a_id

    def last_read_seq(self, user_id: str) -> int:
        return self.a_last_read_seq if user_id == self.user_a_id else self.b_last_read_seq


class DirectMessageRecord(StoredModel):
    conversation_id: str
    sender_id: str
    recipient_id: str
    content: str
    type: MessageType = MessageType.TEXT
    parent_id: str | None = None  # a thread reply: the thread's first message
    reply_count: int = 0
    last_reply_at: UtcDateTime | None = None
    client_msg_id: str
    dedupe_key: str
    seq: int | None = None
    last_event_seq: int = 0
    version: int = 1
    is_edited: bool = False
    edited_at: UtcDateTime | None = None
    is_deleted: bool = False
    deleted_at: UtcDateTime | None = None
    is_read: bool = False
    read_at: UtcDateTime | None = None
    is_pinned: bool = False
    pinned_at: UtcDateTime | None = None
    pinned_by: str | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    is_bot: bool = False
    via: str | None = None  # "api" when sent with an API key
    created_at: UtcDateTime
    updated_at: UtcDateTime


class DirectMessagePublic(WireModel):
    id: str
    conversation_id: str
    sender_id: str
    recipient_id: str
    content: str
    type: MessageType
    parent_id: str | None = None
    reply_count: int = 0
    last_reply_at: UtcDateTime | None = None
    client_msg_id: str
    seq: int
    last_event_seq: int
    version: int
    is_edited: bool
    edited_at: UtcDateTime | None = None
    is_deleted: bool
    deleted_at: UtcDateTime | None = None
    is_read: bool
    read_at: UtcDateTime | None = None
    is_pinned: bool = False
    pinned_at: UtcDateTime | None = None
    pinned_by: str | None = None
    attachments: list[dict[str, Any]]
    reactions: list[ReactionSummary] = Field(default_factory=list)  # filled in history pages
    is_bot: bool
    via: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class DirectConversationPublic(WireModel):
    """A conversation as one of its two members sees it."""

    id: str
    user_a_id: str
    user_b_id: str
    other_user: UserPublic
    last_message_at: UtcDateTime | None = None
    last_message_seq: int
    last_read_seq: int  # the caller's own read pointer
    other_last_read_seq: int  # how far the other member has read (read receipts)
    unread: int  # messages from the other member the caller has not read
    mentions: int  # the same number: every direct message is addressed to its recipient (badge counts)
    last_message: DirectMessagePublic | None = None  # for previews (a tombstone when it was deleted)
    created_at: UtcDateTime
    updated_at: UtcDateTime


# --- inputs --------------------------------------------------------------------------------------------
class DirectOpen(InputModel):
    user_id: IdStr


class DirectPost(InputModel):
    """REST body for POST /direct/conversations/{id}/messages (the conversation comes from the path)."""

    content: Annotated[str, Text(0, CONTENT_HARD_MAX_CHARS, strip=False)] = ""
    type: MessageType = MessageType.TEXT
    client_msg_id: ClientMsgId | None = None
    parent_id: IdStr | None = None  # reply in the thread of this message
    attachment_ids: list[IdStr] = Field(default_factory=list, max_length=10)


class DirectSend(DirectPost):
    """Socket `dm:send`: to an existing conversation or straight to a user (found or created on the way)."""

    conversation_id: IdStr | None = None
    user_id: IdStr | None = None
    client_msg_id: ClientMsgId  # required over sockets: a resend after a lost ack must not duplicate

    @model_validator(mode="after")
    def _one_target(self) -> DirectSend:
        if (self.conversation_id is None) == (self.user_id is None):
            raise ValueError("give exactly one of conversationId and userId")
        return self


class DirectPatch(InputModel):
    content: Annotated[str, Text(1, CONTENT_HARD_MAX_CHARS, strip=False)]
    version: int = Field(ge=1, le=INT64_MAX, strict=True)


class DirectEdit(DirectPatch):
    message_id: IdStr


class DirectMessageRef(InputModel):
    message_id: IdStr


class DirectConversationRef(InputModel):
    conversation_id: IdStr


class DirectHistory(HistoryWindow):
    conversation_id: IdStr


class DirectList(InputModel):
    limit: int = Field(50, ge=1, le=100, strict=True)
    # The last conversation of the previous page: its lastMessageAt, and its id to break ties.
    before: ClientDateTime | None = None  # a filter bound, like the REST query's
    before_id: IdStr | None = None


class DirectMarkRead(InputModel):
    conversation_id: IdStr
    message_id: IdStr | None = None  # read up to this message; the latest when absent


class DirectReadReceipt(WireModel):
    """Event `dm:read`: the reader has read the other member's messages up to `upToSeq`."""

    conversation_id: str
    reader_id: str
    up_to_seq: int
    read_at: UtcDateTime


class DirectReadBody(InputModel):
    """REST body for POST /direct/conversations/{id}/read (optional: all messages when absent)."""

    message_id: IdStr | None = None


# --- typing indicators (channels and direct conversations) ---------------------------------------------
class TypingIn(InputModel):
    """`typing:start` / `typing:stop`: exactly one of a channel and a direct conversation."""

    channel_id: IdStr | None = None
    conversation_id: IdStr | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TypingIn:
        if (self.channel_id is None) == (self.conversation_id is None):
            raise ValueError("give exactly one of channelId and conversationId")
        return self


class TypingEvent(WireModel):
    """`typing:started` (with `expiresIn` seconds) and `typing:stopped` (with `reason`)."""

    channel_id: str | None = None
    conversation_id: str | None = None
    user_id: str
    username: str
    expires_in: float | None = None
    reason: str | None = None  # stopped: "stopped" by the typist, "expired", or "sent" (a message went out)


class UserBlockRecord(StoredModel):
    """`blocker_id` blocked `blocked_id`: no new direct messages either way (docs/PROTOCOL.md)."""

    blocker_id: str
    blocked_id: str
    created_at: UtcDateTime


class UserBlockPublic(WireModel):
    blocked_id: str
    created_at: UtcDateTime
