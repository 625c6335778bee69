"""Scheduling sidecar (seed 003): intake forms, their responses, context summaries, AI configurations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from models.base import InputModel, StoredModel, Text, UtcDateTime, WireModel

MAX_SCHEMA_BYTES = 64 * 1024
MAX_ANSWERS_BYTES = 64 * 1024
MAX_RULES = 100

FieldName = Annotated[str, Text(1, 64)]


class ConditionOp(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "notEquals"
    IN = "in"
    NOT_IN = "notIn"
    ANSWERED = "answered"
    NOT_ANSWERED = "notAnswered"
    GREATER_THAN = "greaterThan"
    LESS_THAN = "lessThan"


class Condition(InputModel):
    field: FieldName
    op: ConditionOp
    value: Any = None


class RuleEffect(InputModel):
    require: list[FieldName] = Field(default_factory=list, max_length=100)  # must be answered
    hide: list[FieldName] = Field(default_factory=list, max_length=100)  # must not be answered


class ConditionalRule(InputModel):
    """When every condition holds (`all`) or any does (`any`), apply `then`."""

    when: list[Condition] = Field(min_length=1, max_length=20)
    match: Literal["all", "any"] = "all"
    then: RuleEffect


class FormCreate(InputModel):
    name: Annotated[str, Text(1, 255)]
    description: Annotated[str, Text(0, 2000)] | None = None
    event_type_id: int = Field(ge=0, le=2**53)
    is_active: bool = True
    schema_: dict[str, Any] = Field(alias="schema")
    conditional_logic: list[ConditionalRule] = Field(default_factory=list, max_length=MAX_RULES)


class FormUpdate(InputModel):
    name: Annotated[str, Text(1, 255)] | None = None
    description: Annotated[str, Text(0, 2000)] | None = None
    is_active: bool | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    conditional_logic: list[ConditionalRule] | None = Field(None, max_length=MAX_RULES)


class FormRecord(StoredModel):
    user_id: str
    name: str
    description: str | None = None
    event_type_id: int
    is_active: bool = True
    schema_: dict[str, Any] = Field(alias="schema")
    conditional_logic: list[dict[str, Any]] = Field(default_factory=list)
    created_at: UtcDateTime
    updated_at: UtcDateTime


class FormPublic(WireModel):
    id: str
    user_id: str
    name: str
    description: str | None = None
    event_type_id: int
    is_active: bool
    schema_: dict[str, Any] = Field(alias="schema")
    conditional_logic: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class FormResponseCreate(InputModel):
    booking_id: Annotated[str, Text(1, 64)]
    answers: dict[str, Any]


class FormResponseRecord(StoredModel):
    form_id: str
    booking_id: str
    host_id: str  # the form's owner, so access checks need no join
    submitted_by: str
    encrypted_data: str
    metadata: dict[str, Any] | None = None
    redacted_data: dict[str, Any] | None = None
    retain_until: UtcDateTime  # purge-sensitive deletes the response after this
    created_at: UtcDateTime


class FormResponsePublic(WireModel):
    id: str
    form_id: str
    booking_id: str
    submitted_by: str
    answers: dict[str, Any]
    redacted_data: dict[str, Any] | None = None
    created_at: datetime


class SummaryContent(WireModel):
    """The seed's summary metadata structure; kept only encrypted."""

    topic: str
    participants: list[str]
    sensitivity: str
    location: str | None = None
    when: datetime
    duration: int
    plain_text: str
    generated_at: datetime
    method: Literal["rule-based", "ai-generated"]


class SummaryRecord(StoredModel):
    booking_id: str
    host_id: str
    encrypted_summary: str
    # Only non-identifying facts stay in clear: the method and when it ran (the rest is in the ciphertext).
    metadata: dict[str, Any]
    expires_at: UtcDateTime | None = None
    created_at: UtcDateTime


class SummaryPublic(WireModel):
    id: str
    booking_id: str
    summary: SummaryContent
    expires_at: datetime | None = None
    created_at: datetime


class AiProvider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    LOCAL = "local"


class AiConfigUpdate(InputModel):
    provider: AiProvider = AiProvider.LOCAL
    model: Annotated[str, Text(1, 100)] = "rule-based"
    max_tokens: int = Field(1000, ge=1, le=100_000)
    temperature: float = Field(0.7, ge=0, le=2)
    prompt_template: Annotated[str, Text(1, 5000)] = "Summarize the meeting {title} in one or two sentences."
    pii_detection: bool = True
    retention_days: int = Field(90, ge=1, le=3650)
    is_active: bool = True


class AiConfigRecord(StoredModel):
    user_id: str | None = None  # None: the global configuration
    scope: str  # "user:<id>" or "global": one configuration per scope (unique index)
    provider: AiProvider
    model: str
    max_tokens: int
    temperature: float
    prompt_template: str
    pii_detection: bool
    retention_days: int
    is_active: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime


class AiConfigPublic(WireModel):
    id: str
    user_id: str | None = None
    provider: AiProvider
    model: str
    max_tokens: int
    temperature: float
    prompt_template: str
    pii_detection: bool
    retention_days: int
    is_active: bool
    # Only the local rule-based provider runs here; other providers are stored for later.
    effective_provider: AiProvider = AiProvider.LOCAL
    updated_at: datetime
