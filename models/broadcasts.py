"""Scheduled messages (seed 000 scheduledMessages), their per-recipient deliveries, and webhook settings."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel

TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]  # exact, checked by timing.load_zone
RequestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def _webhook_host(url: str) -> str:
    """A URL whose host can be looked up: well formed, and each name label 1 to 63 characters (IDNA)."""
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the URL is not well formed") from None
    if not host:
        raise ValueError("the URL has no host")
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        try:
            host.rstrip(".").encode("idna")
        except UnicodeError:
            raise ValueError("the host name is not valid: each label must be 1 to 63 characters") from None
    return url


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048, pattern=r"^https?://\S+$"),
    AfterValidator(_webhook_host),
]


class ScheduleStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TargetKind(StrEnum):
    CONTACT = "contact"  # one webhook delivery
    GROUP = "group"  # one webhook delivery per member, fixed when scheduled
    GROUPS = "groups"  # several groups: one delivery per distinct contact (a member of two groups gets one)
    CHANNEL = "channel"  # one in-app chat message
    DIRECT = "direct"  # one in-app chat message in a direct conversation


class ContactTarget(InputModel):
    kind: Literal["contact"]
    contact_id: IdStr


class GroupTarget(InputModel):
    kind: Literal["group"]
    group_id: IdStr


MAX_TARGET_GROUPS = 20


class GroupsTarget(InputModel):
    kind: Literal["groups"]
    group_ids: Annotated[list[IdStr], Field(min_length=1, max_length=MAX_TARGET_GROUPS)]


class ChannelTarget(InputModel):
    kind: Literal["channel"]
    channel_id: IdStr


class DirectTarget(InputModel):
    kind: Literal["direct"]
    conversation_id: IdStr


Target = Annotated[
    ContactTarget | GroupTarget | GroupsTarget | ChannelTarget | DirectTarget, Field(discriminator="kind")
]


class ScheduleTime(InputModel):
    """`scheduledFor` with an offset, or a local time plus an IANA `timeZone`."""

    scheduled_for: datetime
    time_zone: TimeZoneName | None = None


class ScheduledCreate(ScheduleTime):
    target: Target
    message: Annotated[str, Text(1, 4000, strip=False)] | None = None
    template_id: IdStr | None = None
    category: Annotated[str, Text(1, 60)] | None = None
    # Sending the same request again (after a lost answer) returns the message created the first time.
    client_request_id: RequestId | None = None
    # `scheduledFor` (without offset) is read in each contact's own `timeZone` (else `timeZone`).
    recipient_local_time: bool = False


class ScheduledUpdate(InputModel):
    """Only while pending. A new time needs `scheduledFor` (and `timeZone` when it is a local time)."""

    scheduled_for: datetime | None = None
    time_zone: TimeZoneName | None = None
    message: Annotated[str, Text(1, 4000, strip=False)] | None = None
    template_id: IdStr | None = None
    category: Annotated[str, Text(1, 60)] | None = None


class TargetRef(WireModel):
    kind: TargetKind
    id: str  # for `groups`: the group ids, sorted, comma-separated


class ScheduledRecord(StoredModel):
    user_id: str
    target: TargetRef
    target_key: str  # "kind:id": the quota and the target filter use it
    request_key: str | None = None  # "{userId}:{clientRequestId}" (unique): replays find the first one
    message: str
    template_id: str | None = None
    category: str | None = None
    scheduled_for: UtcDateTime
    time_zone: str | None = None
    status: ScheduleStatus
    recipients: int
    recipient_local_time: bool = False
    delivered: int = 0
    failed: int = 0
    late: bool = False
    delivery_error: str | None = None
    actual_delivery_time: UtcDateTime | None = None
    series_id: str | None = None  # an occurrence of a recurring broadcast (models/broadcast_series.py)
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ScheduledPublic(WireModel):
    id: str
    target: TargetRef
    message: str
    template_id: str | None = None
    category: str | None = None
    scheduled_for: UtcDateTime
    time_zone: str | None = None
    status: ScheduleStatus
    recipients: int
    recipient_local_time: bool = False
    delivered: int
    failed: int
    late: bool
    delivery_error: str | None = None
    actual_delivery_time: UtcDateTime | None = None
    series_id: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ScheduledPage(WireModel):
    items: list[ScheduledPublic]
    total: int
    next_offset: int | None = None


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SourceKind(StrEnum):
    SCHEDULED = "scheduled"  # a scheduled message (one delivery per recipient)
    SELECTION = "selection"  # a study-book selection


class DeliveryRecord(StoredModel):
    """One item of the lease queue: one message to one recipient."""

    user_id: str
    source_kind: SourceKind
    source_id: str
    target: TargetRef  # contact, channel or direct conversation (groups are expanded)
    status: DeliveryStatus
    scheduled_for: UtcDateTime  # the promised time, for the late policy
    due_at: UtcDateTime  # the next attempt (moves with backoff)
    lease_owner: str | None = None
    lease_until: UtcDateTime | None = None
    delivery_attempts: int = 0
    last_delivery_attempt: UtcDateTime | None = None
    delivery_error: str | None = None
    actual_delivery_time: UtcDateTime | None = None
    late: bool = False
    created_at: UtcDateTime


class DeliveryPublic(WireModel):
    id: str
    target: TargetRef
    status: DeliveryStatus
    scheduled_for: UtcDateTime
    due_at: UtcDateTime
    delivery_attempts: int
    last_delivery_attempt: UtcDateTime | None = None
    delivery_error: str | None = None
    actual_delivery_time: UtcDateTime | None = None
    late: bool


class WebhookRecord(StoredModel):
    """The secret is never stored: it is derived from the server key and `secretNonce` (rotated on demand)."""

    user_id: str
    url: str
    secret_nonce: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class WebhookSet(InputModel):
    url: WebhookUrl
    rotate_secret: bool = False


class WebhookPublic(WireModel):
    url: str
    secret: str  # shown to its owner so the gateway can verify signatures
    signature_header: str
    updated_at: UtcDateTime
