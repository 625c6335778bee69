"""Contact groups and memberships (seed 000 groups, groupMemberships): many to many, user-scoped."""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.contacts import ContactRepository, GroupRepository, MembershipRepository
from connectnow.services.auth import Principal
from connectnow.services.contacts import to_public
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.contacts import (
    ContactPublic,
    GroupCreate,
    GroupPublic,
    GroupRecord,
    GroupUpdate,
    MembersChange,
    MembersChanged,
    MembershipRecord,
)


class GroupService:
    def __init__(self, store: DocumentStore) -> None:
        self.groups = GroupRepository(store)
        self.contacts = ContactRepository(store)
        self.memberships = MembershipRepository(store)

    async def get_owned(self, principal: Principal, group_id: str) -> GroupRecord:
        group = await self.groups.owned(principal.user_id, group_id)
        if group is None:
            raise AppError(errors.NOT_FOUND, "No such group")
        return group

    async def _public(self, group: GroupRecord) -> GroupPublic:
        count = await self.memberships.count({"groupId": group.id})
        return GroupPublic.model_validate({**group.model_dump(), "member_count": count})

    async def create(self, principal: Principal, data: GroupCreate) -> GroupPublic:
        now = utcnow()
        group = GroupRecord(
            id=new_id(),
            user_id=principal.user_id,
            name=data.name,
            name_lower=data.name.lower(),
            description=data.description,
            color=data.color.lower(),
            created_at=now,
            updated_at=now,
        )
        await self.groups.insert(group)
        return await self._public(group)

    async def list_groups(self, principal: Principal) -> list[GroupPublic]:
        groups = await self.groups.of_user(principal.user_id)
        counts = await self.memberships.counts([g.id for g in groups])
        return [GroupPublic.model_validate({**g.model_dump(), "member_count": counts.get(g.id, 0)}) for g in groups]

    async def get(self, principal: Principal, group_id: str) -> GroupPublic:
        return await self._public(await self.get_owned(principal, group_id))

    async def update(self, principal: Principal, group_id: str, data: GroupUpdate) -> GroupPublic:
        changes: dict[str, object] = {"updatedAt": utcnow()}
        if data.name is not None:
            changes["name"], changes["nameLower"] = data.name, data.name.lower()
        if data.description is not None:
            changes["description"] = data.description
        if data.color is not None:
            changes["color"] = data.color.lower()
        updated = await self.groups.set_owned(group_id, principal.user_id, changes)
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such group")
        return await self._public(updated)

    async def delete(self, principal: Principal, group_id: str) -> None:
        """Deleting a group removes its memberships, never the contacts."""
        if not await self.groups.delete({"id": group_id, "userId": principal.user_id}):
            raise AppError(errors.NOT_FOUND, "No such group")
        await self.memberships.delete({"groupId": group_id, "userId": principal.user_id})

    async def add_members(self, principal: Principal, group_id: str, data: MembersChange) -> MembersChanged:
        group = await self.get_owned(principal, group_id)
        wanted = sorted(set(data.contact_ids))
        owned = {c.id for c in await self.contacts.owned_many(principal.user_id, wanted)}
        missing = [cid for cid in wanted if cid not in owned]
        if missing:
            # All or nothing: a typo should not leave the group half-filled. Foreign ids read as unknown.
            raise AppError(errors.NOT_FOUND, "Some contacts do not exist", details={"contactIds": missing[:50]})
        added = 0
        now = utcnow()
        for contact_id in wanted:
            record = MembershipRecord(
                id=new_id(), user_id=principal.user_id, group_id=group.id, contact_id=contact_id, created_at=now
            )
            try:
                await self.memberships.insert(record)
                added += 1
            except DuplicateKeyError:
                continue  # already a member: adding twice is harmless
        return MembersChanged(changed=added, member_count=await self.memberships.count({"groupId": group.id}))

    async def remove_members(self, principal: Principal, group_id: str, data: MembersChange) -> MembersChanged:
        group = await self.get_owned(principal, group_id)
        removed = await self.memberships.remove_contacts(group.id, principal.user_id, data.contact_ids)
        return MembersChanged(changed=removed, member_count=await self.memberships.count({"groupId": group.id}))

    async def contacts_of(self, principal: Principal, group_id: str) -> list[ContactPublic]:
        group = await self.get_owned(principal, group_id)
        ids = await self.memberships.contact_ids(group.id)
        contacts = await self.contacts.owned_many(principal.user_id, ids)
        return [to_public(c) for c in sorted(contacts, key=lambda c: (c.name_lower, c.id))]

    async def member_records(self, principal: Principal, group_id: str) -> list[str]:
        """The ids of a group's contacts (for scheduling)."""
        group = await self.get_owned(principal, group_id)
        ids = await self.memberships.contact_ids(group.id)
        return [c.id for c in await self.contacts.owned_many(principal.user_id, ids)]
