"""Direct messages: unread counts look up the recipient's unread messages."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0151_direct_unread",
    description="index the recipient's unread direct messages",
    indexes=(
        Index(
            "direct_messages",
            "ix_direct_messages_recipient_unread",
            (("conversationId", 1), ("recipientId", 1), ("isRead", 1)),
        ),
    ),
)
