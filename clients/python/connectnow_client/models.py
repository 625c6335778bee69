"""What the server sends, as typed objects (the wire is camelCase JSON; `raw` keeps every field)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _opt(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) else 0


@dataclass(frozen=True)
class Message:
    """A channel message (thread replies have `parent_id`)."""

    id: str
    channel_id: str
    workspace_id: str
    user_id: str
    content: str
    client_msg_id: str
    seq: int
    last_event_seq: int
    version: int
    parent_id: str | None = None
    is_deleted: bool = False
    is_bot: bool = False
    type: str = "TEXT"
    mentions: tuple[str, ...] = ()
    created_at: str = ""
    conversation_id: str | None = None  # set for a direct message (then channel_id is "")
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_direct(self) -> bool:
        return self.conversation_id is not None

    @property
    def thread_id(self) -> str:
        """The thread a reply to this message belongs in (a reply to a reply stays in the same thread)."""
        return self.parent_id or self.id

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        return cls(
            id=_str(data, "id"),
            channel_id=_str(data, "channelId"),
            workspace_id=_str(data, "workspaceId"),
            user_id=_str(data, "userId") or _str(data, "senderId"),
            content=_str(data, "content"),
            client_msg_id=_str(data, "clientMsgId"),
            seq=_int(data, "seq"),
            last_event_seq=_int(data, "lastEventSeq"),
            version=_int(data, "version"),
            parent_id=_opt(data, "parentId"),
            is_deleted=bool(data.get("isDeleted", False)),
            is_bot=bool(data.get("isBot", False)),
            type=_str(data, "type") or "TEXT",
            mentions=tuple(str(m) for m in data.get("mentions") or ()),
            created_at=_str(data, "createdAt"),
            conversation_id=_opt(data, "conversationId"),
            raw=data,
        )


@dataclass(frozen=True)
class Channel:
    id: str
    workspace_id: str
    name: str
    is_private: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Channel:
        return cls(
            id=_str(data, "id"),
            workspace_id=_str(data, "workspaceId"),
            name=_str(data, "name"),
            is_private=bool(data.get("isPrivate", False)),
            raw=data,
        )


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Workspace:
        return cls(id=_str(data, "id"), name=_str(data, "name"), raw=data)


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    is_bot: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> User:
        return cls(
            id=_str(data, "id"),
            username=_str(data, "username"),
            display_name=_str(data, "displayName"),
            is_bot=bool(data.get("isBot", False)),
            raw=data,
        )


@dataclass(frozen=True)
class Reaction:
    emoji: str
    count: int
    user_ids: tuple[str, ...]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Reaction:
        return cls(_str(data, "emoji"), _int(data, "count"), tuple(str(u) for u in data.get("userIds") or ()))


@dataclass(frozen=True)
class ChannelEvent:
    """A live conversation event (`message:new`, `reaction:added`, `dm:message`, ...) as the stream got it."""

    name: str
    kind: str  # "channel" or "dm"
    conversation_id: str  # the channel's id, or the direct conversation's
    event_seq: int
    message: Message | None
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
