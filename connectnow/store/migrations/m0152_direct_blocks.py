"""Direct messages: users block each other; reactions and pins."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0152_direct_blocks",
    description="user blocks and reactions for direct messages",
    collections=("user_blocks", "direct_message_reactions"),
    indexes=(
        Index("user_blocks", "ux_user_blocks_pair", (("blockerId", 1), ("blockedId", 1)), unique=True),
        Index("user_blocks", "ix_user_blocks_blocked", (("blockedId", 1),)),
        Index(
            "direct_message_reactions",
            "ux_direct_message_reactions",
            (("messageId", 1), ("userId", 1), ("emoji", 1)),
            unique=True,
        ),
        Index("direct_messages", "ix_direct_messages_pins", (("conversationId", 1), ("isPinned", 1))),
    ),
)
