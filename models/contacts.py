"""Contacts, groups, group memberships and message templates (seed 000: contacts, groups, groupMemberships,
messageTemplates). Every record carries `userId`: an address book is private to its owner."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from models.base import IdStr, InputModel, StoredModel, Text, UtcDateTime, WireModel

# A raw phone number as typed: digits, spaces, dashes, dots, parentheses, a leading +, and extensions.
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# CSS-style hex colors only (#RGB or #RRGGBB): the UI paints them, so free text would be an injection vector.
HexColor = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^#(?:[0-9a-fA-F]{3}){1,2}$")]
MAX_BULK_IDS = 1000


class DuplicatePolicy(StrEnum):
    REFUSE = "refuse"
    MERGE = "merge"


class ContactSort(StrEnum):
    NAME = "name"
    NAME_DESC = "-name"
    CREATED = "createdAt"
    CREATED_DESC = "-createdAt"


# --- contacts ------------------------------------------------------------------------------------------
class ConsentSource(StrEnum):
    INBOUND = "inbound"  # the contact replied (STOP / START) through the signed inbound webhook
    OWNER = "owner"  # the address book's owner recorded it (e.g. a request by phone)


class ContactRecord(StoredModel):
    user_id: str
    name: str
    name_lower: str
    phone_number: str  # E.164
    email: str | None = None
    notes: str | None = None
    # Consent: an opted-out contact is never sent to; only the contact (a START reply) opts back in.
    opted_out: bool = False
    opted_out_at: UtcDateTime | None = None
    opt_out_reason: str | None = None
    opt_out_source: ConsentSource | None = None
    consent_at: UtcDateTime | None = None  # the last START reply
    time_zone: str | None = None  # IANA: messages sent "at the recipient's local time" use it
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ContactCreate(InputModel):
    name: Annotated[str, Text(1, 120)]
    phone_number: PhoneText
    email: EmailStr | None = None
    notes: Annotated[str, Text(0, 2000)] | None = None
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    # The region used to read a number written without a country code (falls back to the server setting).
    region: RegionCode | None = None


class ContactUpdate(InputModel):
    name: Annotated[str, Text(1, 120)] | None = None
    phone_number: PhoneText | None = None
    email: EmailStr | None = None
    notes: Annotated[str, Text(0, 2000)] | None = None
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    region: RegionCode | None = None


class ContactPublic(WireModel):
    id: str
    name: str
    phone_number: str
    email: str | None = None
    notes: str | None = None
    opted_out: bool = False
    opted_out_at: UtcDateTime | None = None
    opt_out_reason: str | None = None
    opt_out_source: ConsentSource | None = None
    consent_at: UtcDateTime | None = None
    time_zone: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ContactPage(WireModel):
    items: list[ContactPublic]
    total: int
    next_offset: int | None = None


class ContactCreated(WireModel):
    contact: ContactPublic
    merged: bool = False


class ImportRow(WireModel):
    row: int  # 1-based line number in the file, header included
    outcome: str  # created, merged or refused
    contact_id: str | None = None
    code: str | None = None
    reason: str | None = None


class ImportReport(WireModel):
    created: int = 0
    merged: int = 0
    refused: int = 0
    rows: list[ImportRow] = Field(default_factory=list)


class OptOutCreate(InputModel):
    """The owner records an opt-out the contact asked for another way (a call, a letter)."""

    reason: Annotated[str, Text(1, 200)]


class InboundReply(InputModel):
    """A reply a gateway received from a contact (an SMS "STOP"), posted to the signed inbound webhook."""

    from_: PhoneText = Field(alias="from")
    text: Annotated[str, Text(0, 1600, strip=False)]
    region: RegionCode | None = None


class InboundAction(StrEnum):
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    IGNORED = "ignored"  # not a keyword
    UNKNOWN_CONTACT = "unknown_contact"


class InboundResult(WireModel):
    action: InboundAction
    contact_id: str | None = None


# --- groups --------------------------------------------------------------------------------------------
class GroupRecord(StoredModel):
    user_id: str
    name: str
    name_lower: str
    description: str
    color: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class GroupCreate(InputModel):
    name: Annotated[str, Text(1, 80)]
    description: Annotated[str, Text(0, 500)] = ""
    color: HexColor


class GroupUpdate(InputModel):
    name: Annotated[str, Text(1, 80)] | None = None
    description: Annotated[str, Text(0, 500)] | None = None
    color: HexColor | None = None


class GroupPublic(WireModel):
    id: str
    name: str
    description: str
    color: str
    member_count: int = 0
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MembershipRecord(StoredModel):
    user_id: str
    group_id: str
    contact_id: str
    created_at: UtcDateTime


class MembersChange(InputModel):
    contact_ids: Annotated[list[IdStr], Field(min_length=1, max_length=MAX_BULK_IDS)]


class MembersChanged(WireModel):
    changed: int  # memberships actually added or removed (re-adding a member is harmless)
    member_count: int


# --- templates -----------------------------------------------------------------------------------------
class TemplateRecord(StoredModel):
    user_id: str
    name: str
    name_lower: str
    content: str
    category: str | None = None
    placeholders: list[str] = Field(default_factory=list)
    created_at: UtcDateTime
    updated_at: UtcDateTime


class TemplateCreate(InputModel):
    name: Annotated[str, Text(1, 120)]
    content: Annotated[str, Text(1, 4000, strip=False)]
    category: Annotated[str, Text(1, 60)] | None = None


class TemplateUpdate(InputModel):
    name: Annotated[str, Text(1, 120)] | None = None
    content: Annotated[str, Text(1, 4000, strip=False)] | None = None
    category: Annotated[str, Text(1, 60)] | None = None


class TemplatePublic(WireModel):
    id: str
    name: str
    content: str
    category: str | None = None
    placeholders: list[str]
    created_at: UtcDateTime
    updated_at: UtcDateTime


class TemplatePreview(WireModel):
    text: str
