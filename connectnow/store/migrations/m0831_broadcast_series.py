"""Recurring broadcasts (issue 19): the series lease queue, and the occurrences a series made."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0831_broadcast_series",
    description="recurring broadcasts: due and expired-lease claims, per-user listing, occurrences by series",
    collections=("broadcast_series",),
    indexes=(
        Index("broadcast_series", "ix_series_due", (("status", 1), ("nextRunAt", 1))),
        Index("broadcast_series", "ix_series_lease", (("status", 1), ("leaseUntil", 1))),
        Index("broadcast_series", "ix_series_user", (("userId", 1), ("createdAt", 1))),
        Index("broadcast_series", "ux_series_request", (("requestKey", 1),), unique=True, sparse=True),
        Index("scheduled_messages", "ix_scheduled_series", (("seriesId", 1), ("scheduledFor", 1))),
    ),
)
