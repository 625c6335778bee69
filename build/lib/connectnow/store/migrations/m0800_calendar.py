"""Calendars (seed 004): calendars, events, categories, locations, sync logs, admin exports, reminders.

Collection names carry a `calendar_` prefix so they never collide with other areas' `events` or
`categories`. Index names follow the seed's index list.
"""

from connectnow.store.schema import GeoIndex, Index, Migration

MIGRATION = Migration(
    id="0800_calendar",
    description="calendars, events with recurrence, categories, locations, sync logs, exports, reminders",
    collections=(
        "calendars",
        "calendar_events",
        "calendar_categories",
        "calendar_locations",
        "calendar_sync_logs",
        "calendar_exports",
        "calendar_reminders",
    ),
    indexes=(
        Index("calendars", "ix_calendars_user", (("userId", 1), ("isActive", 1))),
        Index("calendars", "ux_calendars_outlook", (("outlookCalendarId", 1),), unique=True, sparse=True),
        Index("calendars", "ux_calendars_feed", (("feedTokenHash", 1),), unique=True, sparse=True),
        Index("calendar_events", "ix_cal_events_calendar_range", (("calendarId", 1), ("startTime", 1))),
        Index("calendar_events", "ix_cal_events_user_start", (("userId", 1), ("startTime", 1))),
        # One stored event per (calendar, UID, instance): import by UID updates instead of duplicating.
        # Masters and single events carry originalKey "-", exceptions the instance's ISO start.
        Index(
            "calendar_events",
            "ux_cal_events_uid",
            (("calendarId", 1), ("uid", 1), ("originalKey", 1)),
            unique=True,
        ),
        Index("calendar_events", "ux_cal_events_outlook", (("outlookEventId", 1),), unique=True, sparse=True),
        Index("calendar_events", "ix_cal_events_master", (("recurrenceMasterId", 1),)),
        Index("calendar_events", "ix_cal_events_category", (("categoryId", 1),)),
        Index("calendar_events", "ix_cal_events_internal_category", (("internalCategory", 1),)),
        Index("calendar_events", "ix_cal_events_location", (("locationId", 1), ("startTime", 1))),
        Index("calendar_events", "ix_cal_events_sync_status", (("syncStatus", 1),)),
        Index("calendar_categories", "ux_cal_categories_name", (("scope", 1), ("nameLower", 1)), unique=True),
        Index("calendar_categories", "ix_cal_categories_user", (("userId", 1),)),
        Index("calendar_categories", "ix_cal_categories_type", (("type", 1),)),
        Index("calendar_locations", "ux_cal_locations_name", (("scope", 1), ("nameLower", 1)), unique=True),
        Index("calendar_locations", "ix_cal_locations_user", (("userId", 1),)),
        Index("calendar_sync_logs", "ix_cal_sync_logs_user", (("userId", 1), ("startedAt", -1))),
        Index("calendar_sync_logs", "ix_cal_sync_logs_calendar", (("calendarId", 1), ("startedAt", -1))),
        Index("calendar_sync_logs", "ix_cal_sync_logs_status", (("status", 1),)),
        Index("calendar_exports", "ix_cal_exports_admin", (("adminUserId", 1), ("createdAt", -1))),
        Index("calendar_exports", "ix_cal_exports_due", (("status", 1), ("scheduledFor", 1))),
        Index("calendar_reminders", "ux_cal_reminders_event", (("eventId", 1),), unique=True),
        Index("calendar_reminders", "ix_cal_reminders_due", (("status", 1), ("scheduledFor", 1))),
    ),
    geo_indexes=(GeoIndex("calendar_locations", "gx_cal_locations_geo", "geo"),),
)
