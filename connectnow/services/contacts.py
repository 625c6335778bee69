"""Contacts (seed 000 contacts): a private address book keyed by normalized phone number.

Phone numbers are parsed and validated by `phonenumbers` (Google's libphonenumber) and kept in E.164, so
"+1 (202) 555-0143" and "202-555-0143" (region US) are one contact. A number without a country code is
read with the request's region or the server's default region; with neither it is ambiguous and refused.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.repositories.contacts import ContactRepository, GroupRepository, MembershipRepository
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.contacts import (
    ContactCreate,
    ContactCreated,
    ContactPage,
    ContactPublic,
    ContactRecord,
    ContactSort,
    ContactUpdate,
    DuplicatePolicy,
    GroupPublic,
)

MAX_PAGE_SIZE = 200
# Digits with separators, one optional leading +, and an optional extension ("ext. 12", "x12", "#12").
PHONE_SHAPE = re.compile(r"\+?[0-9 ().\-]{1,40}(?:\s*(?:ext\.?|x|#)\s*[0-9]{1,10})?", re.IGNORECASE)
SORTS = {
    ContactSort.NAME: [("nameLower", 1), ("id", 1)],
    ContactSort.NAME_DESC: [("nameLower", -1), ("id", -1)],
    ContactSort.CREATED: [("createdAt", 1), ("id", 1)],
    ContactSort.CREATED_DESC: [("createdAt", -1), ("id", -1)],
}


def normalize_phone(raw: str, region: str | None) -> str:
    """E.164 form of a phone number, or AppError(PHONE_INVALID / PHONE_AMBIGUOUS)."""
    text = raw.strip()
    if not PHONE_SHAPE.fullmatch(text):
        # libphonenumber is lenient ("++1...", "tel:+1...", trailing bidi overrides parse): take only the
        # characters people write numbers with, so what is stored is what the user meant.
        raise AppError(
            errors.PHONE_INVALID,
            "A phone number is digits with an optional leading +, spaces, dots, dashes, parentheses, extension",
            details={"field": "phoneNumber"},
        )
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not text.startswith("+") and not region:
            raise AppError(errors.PHONE_AMBIGUOUS, details={"field": "phoneNumber"}) from None
        raise AppError(errors.PHONE_INVALID, f"Not a phone number: {exc}", details={"field": "phoneNumber"}) from None
    if not phonenumbers.is_valid_number(number):
        raise AppError(
            errors.PHONE_INVALID,
            "This number is not valid for its country (wrong length or unassigned range)",
            details={"field": "phoneNumber", "region": phonenumbers.region_code_for_number(number)},
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def checked_zone(name: str | None) -> str | None:
    """An IANA zone name, or TIMEZONE_UNKNOWN (the same check as scheduled messages' `timeZone`)."""
    if name is None:
        return None
    from connectnow.services.broadcasts.timing import load_zone

    load_zone(name)
    return name


def to_public(record: ContactRecord) -> ContactPublic:
    return ContactPublic.model_validate(record, from_attributes=True)


class ContactService:
    def __init__(self, store: DocumentStore, settings: Settings) -> None:
        self.contacts = ContactRepository(store)
        self.groups = GroupRepository(store)
        self.memberships = MembershipRepository(store)
        self.settings = settings

    def normalize(self, raw: str, region: str | None) -> str:
        return normalize_phone(raw, region or self.settings.phone_default_region)

    async def get_owned(self, principal: Principal, contact_id: str) -> ContactRecord:
        record = await self.contacts.owned(principal.user_id, contact_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such contact")
        return record

    async def create(
        self, principal: Principal, data: ContactCreate, on_duplicate: DuplicatePolicy = DuplicatePolicy.REFUSE
    ) -> ContactCreated:
        phone = self.normalize(data.phone_number, data.region)
        now = utcnow()
        record = ContactRecord(
            id=new_id(),
            user_id=principal.user_id,
            name=data.name,
            name_lower=data.name.lower(),
            phone_number=phone,
            email=str(data.email) if data.email else None,
            notes=data.notes or None,
            time_zone=checked_zone(data.time_zone),
            created_at=now,
            updated_at=now,
        )
        try:
            await self.contacts.insert(record)
            return ContactCreated(contact=to_public(record), merged=False)
        except DuplicateKeyError:
            existing = await self.contacts.by_phone(principal.user_id, phone)
            if existing is None:  # deleted in between: the caller may simply retry
                raise AppError(errors.CONFLICT, "The contact changed while it was being created") from None
            if on_duplicate is DuplicatePolicy.REFUSE:
                raise AppError(
                    errors.CONTACT_DUPLICATE, details={"contactId": existing.id, "phoneNumber": phone}
                ) from None
            merged = await self._merge(existing, data)
            return ContactCreated(contact=to_public(merged), merged=True)

    async def _merge(self, existing: ContactRecord, data: ContactCreate) -> ContactRecord:
        """Merging keeps the existing contact and overwrites the fields the new entry gives."""
        changes: dict[str, object] = {"name": data.name, "nameLower": data.name.lower(), "updatedAt": utcnow()}
        if data.email:
            changes["email"] = str(data.email)
        if data.notes:
            changes["notes"] = data.notes
        updated = await self.contacts.set_owned(existing.id, existing.user_id, changes)
        if updated is None:
            raise AppError(errors.CONFLICT, "The contact was deleted while it was being merged")
        return updated

    async def get(self, principal: Principal, contact_id: str) -> ContactPublic:
        return to_public(await self.get_owned(principal, contact_id))

    async def list_contacts(
        self, principal: Principal, *, q: str | None, sort: ContactSort, limit: int, offset: int
    ) -> ContactPage:
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        if q and q.strip():
            return await self._search(principal, q.strip(), limit)
        records, total = await self.contacts.page(principal.user_id, SORTS[sort], limit, offset)
        next_offset = offset + len(records) if offset + len(records) < total else None
        return ContactPage(items=[to_public(r) for r in records], total=total, next_offset=next_offset)

    async def _search(self, principal: Principal, q: str, limit: int) -> ContactPage:
        # A query that reads as a phone number finds that number exactly; otherwise full-text on name,
        # e-mail and notes (best match first).
        found: list[ContactRecord] = []
        try:
            phone = self.normalize(q, None)
        except AppError:
            phone = None
        if phone is not None:
            exact = await self.contacts.by_phone(principal.user_id, phone)
            found = [exact] if exact else []
        if not found:
            found = await self.contacts.search(principal.user_id, q, limit)
        return ContactPage(items=[to_public(r) for r in found], total=len(found), next_offset=None)

    async def update(self, principal: Principal, contact_id: str, data: ContactUpdate) -> ContactPublic:
        current = await self.get_owned(principal, contact_id)
        fields = data.model_dump(exclude_unset=True, by_alias=True)
        changes: dict[str, object] = {"updatedAt": utcnow()}
        if "name" in fields and data.name is not None:
            changes["name"], changes["nameLower"] = data.name, data.name.lower()
        if data.phone_number is not None:
            changes["phoneNumber"] = self.normalize(data.phone_number, data.region)
        if "email" in fields:
            changes["email"] = str(data.email) if data.email else None
        if "notes" in fields:
            changes["notes"] = data.notes or None
        if "timeZone" in fields:
            changes["timeZone"] = checked_zone(data.time_zone)
        try:
            updated = await self.contacts.set_owned(current.id, principal.user_id, changes)
        except DuplicateKeyError:
            other = await self.contacts.by_phone(principal.user_id, str(changes["phoneNumber"]))
            raise AppError(errors.CONTACT_DUPLICATE, details={"contactId": other.id if other else None}) from None
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such contact")
        return to_public(updated)

    async def delete(self, principal: Principal, contact_id: str) -> None:
        """Deleting a contact removes it from every group."""
        if not await self.contacts.delete({"id": contact_id, "userId": principal.user_id}):
            raise AppError(errors.NOT_FOUND, "No such contact")
        await self.memberships.delete({"contactId": contact_id, "userId": principal.user_id})

    async def groups_of(self, principal: Principal, contact_id: str) -> list[GroupPublic]:
        await self.get_owned(principal, contact_id)
        group_ids = await self.memberships.group_ids(contact_id)
        groups = await self.groups.owned_many(principal.user_id, group_ids)
        counts = await self.memberships.counts([g.id for g in groups])
        return [
            GroupPublic.model_validate({**g.model_dump(), "member_count": counts.get(g.id, 0)})
            for g in sorted(groups, key=lambda g: g.name_lower)
        ]
