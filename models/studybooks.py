"""The Study Book System (seed 000): admin-managed books, lessons and predefined messages; users' custom
messages and their selections, which the broadcast scheduler delivers and tracks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel
from models.broadcasts import DeliveryStatus, Target, TargetRef, TimeZoneName


class PredefinedType(StrEnum):
    REMINDER = "reminder"
    SCRIPTURE = "scripture"
    CUSTOM = "custom"


class StudyBookRecord(StoredModel):
    title: str
    description: str
    total_lessons: int = 0
    created_by: str
    created_at: UtcDateTime
    is_active: bool = True


class StudyBookCreate(InputModel):
    title: Annotated[str, Text(1, 200)]
    description: Annotated[str, Text(0, 2000)] = ""
    is_active: bool = True


class StudyBookUpdate(InputModel):
    title: Annotated[str, Text(1, 200)] | None = None
    description: Annotated[str, Text(0, 2000)] | None = None
    is_active: bool | None = None


class StudyBookPublic(WireModel):
    id: str
    title: str
    description: str
    total_lessons: int
    created_by: str  # the admin who created it (user id)
    created_at: UtcDateTime
    is_active: bool


class LessonRecord(StoredModel):
    study_book_id: str
    lesson_number: int
    title: str
    description: str
    created_at: UtcDateTime
    is_active: bool = True


class LessonCreate(InputModel):
    lesson_number: Annotated[int, Field(ge=1, le=10_000, strict=True)]
    title: Annotated[str, Text(1, 200)]
    description: Annotated[str, Text(0, 2000)] = ""
    is_active: bool = True


class LessonUpdate(InputModel):
    title: Annotated[str, Text(1, 200)] | None = None
    description: Annotated[str, Text(0, 2000)] | None = None
    is_active: bool | None = None


class LessonPublic(WireModel):
    id: str
    study_book_id: str
    lesson_number: int
    title: str
    description: str
    is_active: bool
    created_at: UtcDateTime


class PredefinedRecord(StoredModel):
    lesson_id: str
    content: str
    message_type: PredefinedType
    display_order: int
    created_by: str
    created_at: UtcDateTime
    is_active: bool = True


class PredefinedCreate(InputModel):
    content: Annotated[str, Text(1, 4000, strip=False)]
    message_type: PredefinedType
    display_order: Annotated[int, Field(ge=0, le=100_000, strict=True)] = 0
    is_active: bool = True


class PredefinedUpdate(InputModel):
    content: Annotated[str, Text(1, 4000, strip=False)] | None = None
    message_type: PredefinedType | None = None
    display_order: Annotated[int, Field(ge=0, le=100_000, strict=True)] | None = None
    is_active: bool | None = None


class PredefinedPublic(WireModel):
    id: str
    lesson_id: str
    content: str
    message_type: PredefinedType
    display_order: int
    is_active: bool
    created_by: str  # the admin who wrote it (user id)
    created_at: UtcDateTime


class CustomRecord(StoredModel):
    user_id: str
    lesson_id: str
    content: str
    created_at: UtcDateTime
    last_modified: UtcDateTime


class CustomCreate(InputModel):
    content: Annotated[str, Text(1, 4000, strip=False)]


class CustomPublic(WireModel):
    id: str
    lesson_id: str
    content: str
    created_at: UtcDateTime
    last_modified: UtcDateTime


class SelectionRecord(StoredModel):
    user_id: str
    lesson_id: str
    predefined_message_id: str | None = None
    custom_message_id: str | None = None
    content: str  # fixed when scheduled: later edits of the source do not change what is sent
    target: TargetRef | None = None
    scheduled_at: UtcDateTime | None = None
    time_zone: str | None = None
    is_scheduled: bool = False
    created_at: UtcDateTime
    delivery_status: DeliveryStatus | None = None
    delivery_attempts: int = 0
    last_delivery_attempt: UtcDateTime | None = None
    delivery_error: str | None = None
    actual_delivery_time: UtcDateTime | None = None
    late: bool = False


class SelectionCreate(InputModel):
    """Exactly one of `predefinedMessageId` and `customMessageId`; scheduling is optional (both or neither of
    `scheduledAt` and `target`)."""

    lesson_id: IdStr
    predefined_message_id: IdStr | None = None
    custom_message_id: IdStr | None = None
    scheduled_at: datetime | None = None
    time_zone: TimeZoneName | None = None
    target: Target | None = None


class SelectionPublic(WireModel):
    id: str
    lesson_id: str
    predefined_message_id: str | None = None
    custom_message_id: str | None = None
    content: str
    target: TargetRef | None = None
    scheduled_at: UtcDateTime | None = None
    time_zone: str | None = None
    is_scheduled: bool
    created_at: UtcDateTime
    delivery_status: DeliveryStatus | None = None
    delivery_attempts: int
    last_delivery_attempt: UtcDateTime | None = None
    delivery_error: str | None = None
    actual_delivery_time: UtcDateTime | None = None
    late: bool
