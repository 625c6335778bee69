"""Contacts, groups, memberships and templates: every query is scoped by the owner's `userId`."""

from __future__ import annotations

from collections.abc import Sequence

from connectnow.repositories.base import Repository
from connectnow.store.port import Sort
from models.contacts import ContactRecord, GroupRecord, MembershipRecord, TemplateRecord


class ContactRepository(Repository[ContactRecord]):
    collection_name = "contacts"
    model = ContactRecord

    async def owned(self, user_id: str, contact_id: str) -> ContactRecord | None:
        return await self.find_one({"id": contact_id, "userId": user_id})

    async def owned_many(self, user_id: str, ids: Sequence[str]) -> list[ContactRecord]:
        return await self.find({"userId": user_id, "id": {"$in": sorted(set(ids))}}) if ids else []

    async def by_phone(self, user_id: str, phone: str) -> ContactRecord | None:
        return await self.find_one({"userId": user_id, "phoneNumber": phone})

    async def page(self, user_id: str, sort: Sort, limit: int, offset: int) -> tuple[list[ContactRecord], int]:
        flt = {"userId": user_id}
        return await self.find(flt, sort=sort, limit=limit, skip=offset), await self.count(flt)

    async def search(self, user_id: str, text: str, limit: int) -> list[ContactRecord]:
        docs = await self.coll.text_search(text, {"userId": user_id}, limit=limit)
        return [self.model.model_validate(d) for d in docs]


class GroupRepository(Repository[GroupRecord]):
    collection_name = "contact_groups"
    model = GroupRecord

    async def owned(self, user_id: str, group_id: str) -> GroupRecord | None:
        return await self.find_one({"id": group_id, "userId": user_id})

    async def owned_many(self, user_id: str, ids: Sequence[str]) -> list[GroupRecord]:
        return await self.find({"userId": user_id, "id": {"$in": list(ids)}}) if ids else []

    async def of_user(self, user_id: str) -> list[GroupRecord]:
        return await self.find({"userId": user_id}, sort=[("nameLower", 1)])


class MembershipRepository(Repository[MembershipRecord]):
    collection_name = "group_memberships"
    model = MembershipRecord

    async def remove_contacts(self, group_id: str, user_id: str, contact_ids: Sequence[str]) -> int:
        return await self.delete(
            {"groupId": group_id, "userId": user_id, "contactId": {"$in": sorted(set(contact_ids))}}
        )

    async def contact_ids(self, group_id: str) -> list[str]:
        return [m.contact_id async for m in self.iterate({"groupId": group_id}, sort=[("createdAt", 1)])]

    async def group_ids(self, contact_id: str) -> list[str]:
        return [m.group_id for m in await self.find({"contactId": contact_id})]

    async def counts(self, group_ids: Sequence[str]) -> dict[str, int]:
        if not group_ids:
            return {}
        counted = await self.coll.count_by({"groupId": {"$in": list(group_ids)}}, "groupId")
        return {str(k): v for k, v in counted.items()}


class TemplateRepository(Repository[TemplateRecord]):
    collection_name = "message_templates"
    model = TemplateRecord

    async def owned(self, user_id: str, template_id: str) -> TemplateRecord | None:
        return await self.find_one({"id": template_id, "userId": user_id})
