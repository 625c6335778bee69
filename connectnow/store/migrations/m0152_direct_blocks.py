"""Direct messages: users block each other (issue 18)."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0152_direct_blocks",
    description="user blocks for direct messages",
    collections=("user_blocks",),
    indexes=(
        Index("user_blocks", "ux_user_blocks_pair", (("blockerId", 1), ("blockedId", 1)), unique=True),
        Index("user_blocks", "ix_user_blocks_blocked", (("blockedId", 1),)),
    ),
)
