"""Calendar archive (seed 004 "archiving old events"): events that ended before a cut-off move here."""

from connectnow.store.schema import Index, Migration

MIGRATION = Migration(
    id="0801_calendar_archive",
    description="archived calendar events",
    collections=("calendar_events_archive",),
    indexes=(
        Index("calendar_events_archive", "ix_cal_archive_calendar_start", (("calendarId", 1), ("startTime", 1))),
        Index("calendar_events_archive", "ix_cal_archive_user_start", (("userId", 1), ("startTime", 1))),
    ),
)
