"""Attachments (seed 002 ATTACHMENTS): stored form and public view.

An upload starts unattached (only its uploader sees it); `claim` ties it to one channel message
(`messageId`) or one direct message (`directMessageId`), once. Readers of that conversation may then
download it.
"""

from __future__ import annotations

from enum import StrEnum

from models.base import StoredModel, UtcDateTime, WireModel

API_BASE = "/api/v1/attachments"


class ConversationKind(StrEnum):
    CHANNEL = "channel"
    DIRECT = "direct"


class AttachmentRecord(StoredModel):
    file_name: str
    uploader_id: str
    storage_key: str
    file_size: int  # bytes
    mime_type: str  # detected from the bytes, never the client's claim
    sha256: str
    width: int | None = None
    height: int | None = None
    thumbnail_key: str | None = None
    thumbnail_mime: str | None = None
    message_id: str | None = None
    direct_message_id: str | None = None
    conversation_id: str | None = None  # the channel or direct conversation it was attached in
    conversation_kind: ConversationKind | None = None
    attached_at: UtcDateTime | None = None
    created_at: UtcDateTime

    @property
    def is_attached(self) -> bool:
        return self.conversation_kind is not None


class AttachmentPublic(WireModel):
    id: str
    file_name: str
    file_url: str
    file_size: int
    mime_type: str
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    uploader_id: str
    message_id: str | None = None
    direct_message_id: str | None = None
    conversation_id: str | None = None
    conversation_kind: ConversationKind | None = None
    created_at: UtcDateTime

    @classmethod
    def of(cls, record: AttachmentRecord) -> AttachmentPublic:
        return cls(
            id=record.id,
            file_name=record.file_name,
            file_url=f"{API_BASE}/{record.id}/content",
            file_size=record.file_size,
            mime_type=record.mime_type,
            thumbnail_url=f"{API_BASE}/{record.id}/thumbnail" if record.thumbnail_key else None,
            width=record.width,
            height=record.height,
            uploader_id=record.uploader_id,
            message_id=record.message_id,
            direct_message_id=record.direct_message_id,
            conversation_id=record.conversation_id,
            conversation_kind=record.conversation_kind,
            created_at=record.created_at,
        )
