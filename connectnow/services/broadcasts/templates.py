"""Message templates (seed 000 messageTemplates) and the placeholders filled per recipient.

Placeholders are `{{name}}`-style and come from a fixed list, checked when a template (or a scheduled
message's text) is saved, so a typo is refused at once instead of reaching a recipient as literal braces.
"""

from __future__ import annotations

import re

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.contacts import TemplateRepository
from connectnow.services.auth import Principal
from connectnow.store.port import DocumentStore
from models.contacts import ContactRecord, TemplateCreate, TemplatePublic, TemplateRecord, TemplateUpdate

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
KNOWN_PLACEHOLDERS = ("name", "firstName", "lastName", "phoneNumber", "email")


def placeholders_in(text: str) -> list[str]:
    """The placeholders a text uses; TEMPLATE_UNKNOWN_PLACEHOLDER for unknown or malformed ones."""
    found = PLACEHOLDER.findall(text)
    unknown = sorted({name for name in found if name not in KNOWN_PLACEHOLDERS})
    leftover = PLACEHOLDER.sub("", text)
    if unknown or "{{" in leftover or "}}" in leftover:
        raise AppError(
            errors.TEMPLATE_UNKNOWN_PLACEHOLDER,
            details={"unknown": unknown, "known": list(KNOWN_PLACEHOLDERS), "malformed": not unknown},
        )
    return sorted(set(found))


def render(text: str, contact: ContactRecord | None) -> str:
    """Fill placeholders for one recipient (a channel message has none: checked when scheduled)."""
    if contact is None:
        return text
    first, _, last = contact.name.partition(" ")
    values = {
        "name": contact.name,
        "firstName": first,
        "lastName": last,
        "phoneNumber": contact.phone_number,
        "email": contact.email or "",
    }
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def to_public(record: TemplateRecord) -> TemplatePublic:
    return TemplatePublic.model_validate(record, from_attributes=True)


class TemplateService:
    def __init__(self, store: DocumentStore) -> None:
        self.templates = TemplateRepository(store)

    async def get_owned(self, principal: Principal, template_id: str) -> TemplateRecord:
        record = await self.templates.owned(principal.user_id, template_id)
        if record is None:
            raise AppError(errors.NOT_FOUND, "No such template")
        return record

    async def create(self, principal: Principal, data: TemplateCreate) -> TemplatePublic:
        now = utcnow()
        record = TemplateRecord(
            id=new_id(),
            user_id=principal.user_id,
            name=data.name,
            name_lower=data.name.lower(),
            content=data.content,
            category=data.category,
            placeholders=placeholders_in(data.content),
            created_at=now,
            updated_at=now,
        )
        await self.templates.insert(record)
        return to_public(record)

    async def list_templates(self, principal: Principal, category: str | None) -> list[TemplatePublic]:
        flt: dict[str, object] = {"userId": principal.user_id}
        if category:
            flt["category"] = category
        return [to_public(r) for r in await self.templates.find(flt, sort=[("nameLower", 1), ("id", 1)])]

    async def get(self, principal: Principal, template_id: str) -> TemplatePublic:
        return to_public(await self.get_owned(principal, template_id))

    async def update(self, principal: Principal, template_id: str, data: TemplateUpdate) -> TemplatePublic:
        changes: dict[str, object] = {"updatedAt": utcnow()}
        if data.name is not None:
            changes["name"], changes["nameLower"] = data.name, data.name.lower()
        if data.content is not None:
            changes["content"] = data.content
            changes["placeholders"] = placeholders_in(data.content)
        if "category" in data.model_fields_set:
            changes["category"] = data.category
        updated = await self.templates.set_owned(template_id, principal.user_id, changes)
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such template")
        return to_public(updated)

    async def delete(self, principal: Principal, template_id: str) -> None:
        if not await self.templates.delete({"id": template_id, "userId": principal.user_id}):
            raise AppError(errors.NOT_FOUND, "No such template")
