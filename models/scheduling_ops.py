"""Scheduling sidecar (seed 003): audit logs, worker jobs, calendar connections, system settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from models.base import InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.bounds import INT64_MAX


class AuditRecord(StoredModel):
    user_id: str | None = None
    booking_id: str | None = None
    action: str  # e.g. booking.read, booking.create, formResponse.read, summary.purge
    resource: str  # booking, form, formResponse, summary, calendarConnection, systemSetting, aiConfig
    resource_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: UtcDateTime


class AuditPublic(WireModel):
    id: str
    user_id: str | None = None
    booking_id: str | None = None
    action: str
    resource: str
    resource_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime


class JobType(StrEnum):
    GENERATE_SUMMARY = "generate-summary"
    SEND_REMINDER = "send-reminder"
    PURGE_SENSITIVE = "purge-sensitive"
    JIT_VALIDATE = "jit-validate"  # re-check the booking's policy and form answers just before it starts


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobRecord(StoredModel):
    job_type: JobType
    status: JobStatus = JobStatus.PENDING
    payload: dict[str, Any]
    booking_id: str | None = None  # so a booking's jobs can be moved or cancelled together
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    max_attempts: int = 3
    scheduled_for: UtcDateTime
    started_at: UtcDateTime | None = None
    completed_at: UtcDateTime | None = None
    lease_owner: str | None = None
    lease_until: UtcDateTime | None = None
    created_at: UtcDateTime


class JobPublic(WireModel):
    id: str
    job_type: JobType
    status: JobStatus
    payload: dict[str, Any]
    booking_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int
    max_attempts: int
    scheduled_for: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime


class CalendarProvider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    APPLE = "apple"


Token = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class CalendarConnectionCreate(InputModel):
    user_id: Annotated[str, Text(1, 64)]
    provider: CalendarProvider
    provider_user_id: Annotated[str, Text(1, 255)]
    access_token: Token
    refresh_token: Token | None = None
    token_expires_at: datetime | None = None
    is_active: bool = True


class CalendarConnectionRecord(StoredModel):
    user_id: str
    provider: CalendarProvider
    provider_user_id: str
    access_token: str  # ciphertext
    refresh_token: str | None = None  # ciphertext
    token_expires_at: UtcDateTime | None = None
    is_active: bool = True
    last_sync_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class CalendarConnectionPublic(WireModel):
    """Tokens never leave the server: only whether they are present."""

    id: str
    user_id: str
    provider: CalendarProvider
    provider_user_id: str
    has_access_token: bool
    has_refresh_token: bool
    token_expires_at: datetime | None = None
    is_active: bool
    last_sync_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


SettingKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


class SystemSettingUpdate(InputModel):
    value: Any
    description: Annotated[str, Text(0, 1000)] | None = None
    is_encrypted: bool = False


class SystemSettingRecord(StoredModel):
    key: str
    value: Any = None  # present when not encrypted
    encrypted_value: str | None = None  # present when encrypted
    description: str | None = None
    is_encrypted: bool = False
    updated_by: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SystemSettingPublic(WireModel):
    key: str
    value: Any
    description: str | None = None
    is_encrypted: bool
    updated_by: str | None = None
    updated_at: datetime


class AuditQuery(WireModel):
    user_id: str | None = None
    booking_id: str | None = None
    action: str | None = None
    resource: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = Field(0, ge=0, le=INT64_MAX)
    limit: int = Field(50, ge=1, le=500)
