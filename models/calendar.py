"""Calendars, categories, locations, sync logs and admin exports (seed 004): stored forms, inputs, views.

Events live in models/calendar_events.py. Provider fields (Outlook and Google ids, sync status) are kept as
the seed lists them; the interoperable sync format here is iCalendar (RFC 5545).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel

HexColor = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
Name = Annotated[str, Text(1, 100)]
ShortList = Annotated[list[Annotated[str, Text(1, 100)]], Field(max_length=50)]


# --- calendars -------------------------------------------------------------------------------------------
class ShareRole(StrEnum):
    READ = "read"  # sees the calendar's events (range, search, free/busy, one event)
    WRITE = "write"  # and creates, changes and deletes them


class CalendarShare(WireModel):
    user_id: str
    role: ShareRole


class ShareSet(InputModel):
    role: ShareRole


class CalendarRecord(StoredModel):
    user_id: str
    name: str
    color: str = "#3366CC"
    is_primary: bool = False
    can_edit: bool = True
    is_active: bool = True
    outlook_calendar_id: str | None = None
    google_calendar_id: str | None = None
    sync_enabled: bool = False
    last_synced: UtcDateTime | None = None
    feed_token_hash: str | None = None
    # Bumped by every write to the calendar or its events: the feed's Last-Modified.
    changed_at: UtcDateTime
    created_at: UtcDateTime
    updated_at: UtcDateTime
    shares: list[CalendarShare] = Field(default_factory=list)
    shared_with: list[str] = Field(default_factory=list)  # the shares' user ids, for "shared with me" queries


class CalendarCreate(InputModel):
    name: Name
    color: HexColor = "#3366CC"
    is_primary: bool = False
    can_edit: bool = True
    is_active: bool = True
    sync_enabled: bool = False


class CalendarUpdate(InputModel):
    name: Name | None = None
    color: HexColor | None = None
    is_primary: bool | None = None
    can_edit: bool | None = None
    is_active: bool | None = None
    sync_enabled: bool | None = None


class CalendarPublic(WireModel):
    id: str
    user_id: str
    name: str
    color: str
    is_primary: bool
    can_edit: bool
    is_active: bool
    sync_enabled: bool
    has_feed: bool = False
    outlook_calendar_id: str | None = None
    google_calendar_id: str | None = None
    last_synced: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    shares: list[CalendarShare] = Field(default_factory=list)  # the owner's view; empty for others
    my_role: ShareRole | None = None  # set when the calendar is someone else's, shared with the caller


class FeedToken(WireModel):
    """The secret feed URL, shown once: only its digest is stored."""

    token: str
    url: str


# --- categories ------------------------------------------------------------------------------------------
class CategoryType(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    SYSTEM = "system"


GLOBAL_SCOPE = "global"


class CategoryRecord(StoredModel):
    user_id: str | None = None  # None: a global category (created by an administrator)
    scope: str  # "user:<id>" or "global": carries the unique (scope, nameLower) index on both adapters
    name: str
    name_lower: str
    color: str = "#888888"
    type: CategoryType = CategoryType.INTERNAL
    description: str | None = None
    is_active: bool = True
    usage_count: int = 0
    created_at: UtcDateTime
    updated_at: UtcDateTime


class CategoryCreate(InputModel):
    name: Name
    color: HexColor = "#888888"
    type: CategoryType = CategoryType.INTERNAL
    description: Annotated[str, Text(0, 1000)] | None = None
    is_global: bool = False


class CategoryUpdate(InputModel):
    name: Name | None = None
    color: HexColor | None = None
    type: CategoryType | None = None
    description: Annotated[str, Text(0, 1000)] | None = None
    is_active: bool | None = None


class CategoryPublic(WireModel):
    id: str
    user_id: str | None = None
    name: str
    color: str
    type: CategoryType
    description: str | None = None
    is_active: bool
    usage_count: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


# --- locations -------------------------------------------------------------------------------------------
class Coordinates(WireModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class CoordinatesIn(InputModel):
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)


class GeoPoint(WireModel):
    """GeoJSON as MongoDB's 2dsphere index wants it: [longitude, latitude]."""

    type: str = "Point"
    coordinates: list[float]


class LocationRecord(StoredModel):
    user_id: str | None = None
    scope: str
    name: str
    name_lower: str
    address: str | None = None
    coordinates: Coordinates | None = None
    geo: GeoPoint | None = None
    capacity: int | None = None
    equipment_available: list[str] = Field(default_factory=list)
    setup_time_required: int = 0  # minutes
    notes: str | None = None
    usage_count: int = 0
    is_active: bool = True
    created_at: UtcDateTime
    updated_at: UtcDateTime


class LocationCreate(InputModel):
    name: Name
    address: Annotated[str, Text(0, 500)] | None = None
    coordinates: CoordinatesIn | None = None
    capacity: int | None = Field(None, ge=1, le=1_000_000)
    equipment_available: ShortList = Field(default_factory=list)
    setup_time_required: int = Field(0, ge=0, le=7 * 24 * 60, description="minutes")
    notes: Annotated[str, Text(0, 2000)] | None = None
    is_global: bool = False


class LocationUpdate(InputModel):
    name: Name | None = None
    address: Annotated[str, Text(0, 500)] | None = None
    coordinates: CoordinatesIn | None = None
    capacity: int | None = Field(None, ge=1, le=1_000_000)
    equipment_available: ShortList | None = None
    setup_time_required: int | None = Field(None, ge=0, le=7 * 24 * 60)
    notes: Annotated[str, Text(0, 2000)] | None = None
    is_active: bool | None = None


class LocationPublic(WireModel):
    id: str
    user_id: str | None = None
    name: str
    address: str | None = None
    coordinates: Coordinates | None = None
    capacity: int | None = None
    equipment_available: list[str]
    setup_time_required: int
    notes: str | None = None
    usage_count: int
    is_active: bool
    distance_meters: float | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


# --- sync logs -------------------------------------------------------------------------------------------
class SyncError(WireModel):
    event_id: str | None = None
    error_message: str
    error_code: str


class SyncLogRecord(StoredModel):
    user_id: str
    calendar_id: str
    sync_type: str  # "ics_import" | "ics_export" | "ics_feed" (the seed's outlook/google types are reserved)
    status: str  # "success" | "error" | "partial"
    events_processed: int = 0
    events_created: int = 0
    events_updated: int = 0
    events_deleted: int = 0
    errors: list[SyncError] = Field(default_factory=list)
    started_at: UtcDateTime
    completed_at: UtcDateTime
    duration_ms: int


class SyncLogPublic(SyncLogRecord):
    pass


# --- admin exports ---------------------------------------------------------------------------------------
class ExportType(StrEnum):
    EVENTS = "events"
    USERS = "users"
    FULL_BACKUP = "full_backup"  # JSON only: users, calendars, events, categories and locations


class ArchiveRequest(InputModel):
    before: date  # events whose last instance ended before this day (UTC) move to the archive


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    ICS = "ics"


class ExportFilters(InputModel):
    start_date: date | None = None
    end_date: date | None = None
    user_ids: Annotated[list[IdStr], Field(max_length=500)] = Field(default_factory=list)
    categories: Annotated[list[IdStr], Field(max_length=200)] = Field(default_factory=list)
    locations: Annotated[list[IdStr], Field(max_length=200)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> ExportFilters:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("endDate is before startDate")
        return self


class ExportCreate(InputModel):
    export_type: ExportType = ExportType.EVENTS
    format: ExportFormat = ExportFormat.JSON
    filters: ExportFilters = Field(default_factory=ExportFilters)


class ExportRecord(StoredModel):
    admin_user_id: str
    export_type: ExportType
    format: ExportFormat
    filters: dict[str, Any] = Field(default_factory=dict)
    file_path: str | None = None
    file_size: int | None = None
    record_count: int | None = None
    status: str  # "pending" | "running" (leased by a worker) | "completed" | "error"
    error_message: str | None = None
    scheduled_for: UtcDateTime
    lease_owner: str | None = None
    lease_until: UtcDateTime | None = None
    attempts: int = 0
    created_at: UtcDateTime
    completed_at: UtcDateTime | None = None


class ExportPublic(WireModel):
    id: str
    admin_user_id: str
    export_type: ExportType
    format: ExportFormat
    filters: dict[str, Any]
    file_size: int | None = None
    record_count: int | None = None
    status: str
    error_message: str | None = None
    created_at: UtcDateTime
    completed_at: UtcDateTime | None = None
