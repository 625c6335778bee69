"""Moderation records of deleted channel messages, reports, channel deletion jobs."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0153_moderation",
    description="moderation records kept after a delete, purged after the retention",
    collections=("moderation_records", "message_reports", "channel_deletions"),
    indexes=(
        Index("moderation_records", "ux_moderation_records_message", (("messageId", 1),), unique=True),
        Index("moderation_records", "ix_moderation_records_due", (("status", 1), ("purgeAt", 1))),
        Index("channel_deletions", "ix_channel_deletions_due", (("status", 1), ("scheduledFor", 1))),
        Index("moderation_records", "ix_moderation_records_workspace", (("workspaceId", 1), ("deletedAt", -1))),
        # One report per message and reporter: reporting again is answered with the first.
        Index("message_reports", "ux_message_reports_reporter", (("messageId", 1), ("reporterId", 1)), unique=True),
        Index(
            "message_reports", "ix_message_reports_workspace", (("workspaceId", 1), ("status", 1), ("createdAt", -1))
        ),
    ),
)
