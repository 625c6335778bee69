"""Calendars subscribed to an ICS URL (issue 19): the refresh lease queue and the owner's list."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0832_calendar_subscriptions",
    description="ICS subscriptions: due and expired-lease claims, per-user listing",
    collections=("calendar_subscriptions",),
    indexes=(
        Index("calendar_subscriptions", "ix_cal_subs_due", (("status", 1), ("nextFetchAt", 1))),
        Index("calendar_subscriptions", "ix_cal_subs_lease", (("status", 1), ("leaseUntil", 1))),
        Index("calendar_subscriptions", "ix_cal_subs_user", (("userId", 1), ("createdAt", 1))),
    ),
)
