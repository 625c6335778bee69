"""Attachments and direct messages (seed 002 ATTACHMENTS, DIRECT_CONVERSATIONS, DIRECT_MESSAGES)."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0150_attachments_direct",
    description="attachments, direct conversations, direct messages",
    collections=("attachments", "direct_conversations", "direct_messages"),
    indexes=(
        Index("attachments", "ix_attachments_uploader", (("uploaderId", 1), ("createdAt", -1))),
        Index("attachments", "ix_attachments_message", (("messageId", 1),), sparse=True),
        Index("attachments", "ix_attachments_direct_message", (("directMessageId", 1),), sparse=True),
        Index("attachments", "ix_attachments_unattached", (("conversationKind", 1), ("createdAt", 1))),
        # The seed's rule: one conversation per pair, stored with userAId < userBId.
        Index("direct_conversations", "ux_direct_conversations_pair", (("userAId", 1), ("userBId", 1)), unique=True),
        Index("direct_conversations", "ix_direct_conversations_a", (("userAId", 1), ("lastMessageAt", -1))),
        Index("direct_conversations", "ix_direct_conversations_b", (("userBId", 1), ("lastMessageAt", -1))),
        # Idempotency for clientMsgId (the message engine looks for an index ending in `_dedupe`).
        Index("direct_messages", "ux_direct_messages_dedupe", (("dedupeKey", 1),), unique=True),
        Index("direct_messages", "ix_direct_messages_seq", (("conversationId", 1), ("seq", 1))),
        Index("direct_messages", "ix_direct_messages_event_seq", (("conversationId", 1), ("lastEventSeq", 1))),
        Index("direct_messages", "ix_direct_messages_unread", (("conversationId", 1), ("senderId", 1), ("isRead", 1))),
    ),
)
