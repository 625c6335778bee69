"""Workspaces, their members, invites and bans."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from connectnow.repositories.base import Repository
from models.workspaces import BanRecord, InviteRecord, MemberRole, WorkspaceMemberRecord, WorkspaceRecord


class WorkspaceRepository(Repository[WorkspaceRecord]):
    collection_name = "workspaces"
    model = WorkspaceRecord

    async def by_ids(self, ids: list[str]) -> list[WorkspaceRecord]:
        return await self.find({"id": {"$in": sorted(set(ids))}}, sort=[("name", 1)]) if ids else []

    async def change_owner(
        self, workspace_id: str, current_owner: str, new_owner: str, now: datetime
    ) -> WorkspaceRecord | None:
        """Conditional on the current owner, so two concurrent transfers cannot both win."""
        return await self.update(
            {"id": workspace_id, "ownerId": current_owner}, {"$set": {"ownerId": new_owner, "updatedAt": now}}
        )


class WorkspaceMemberRepository(Repository[WorkspaceMemberRecord]):
    collection_name = "workspace_members"
    model = WorkspaceMemberRecord

    async def of(self, workspace_id: str, user_id: str) -> WorkspaceMemberRecord | None:
        return await self.find_one({"workspaceId": workspace_id, "userId": user_id})

    async def for_user(self, user_id: str) -> list[WorkspaceMemberRecord]:
        return await self.find({"userId": user_id})

    async def in_workspace(self, workspace_id: str, *, limit: int = 1000) -> list[WorkspaceMemberRecord]:
        return await self.find({"workspaceId": workspace_id}, sort=[("joinedAt", 1)], limit=limit)

    async def set_role(self, workspace_id: str, user_id: str, role: MemberRole) -> WorkspaceMemberRecord | None:
        return await self.update({"workspaceId": workspace_id, "userId": user_id}, {"$set": {"role": role.value}})

    async def remove(self, workspace_id: str, user_id: str) -> bool:
        return await self.delete({"workspaceId": workspace_id, "userId": user_id}) > 0

    async def count_in(self, workspace_id: str) -> int:
        return await self.count({"workspaceId": workspace_id})

    async def page_by_user(self, workspace_id: str, *, offset: int, limit: int) -> list[WorkspaceMemberRecord]:
        """A page in user-id order (the member index's order: a far page costs what the first does)."""
        return await self.find({"workspaceId": workspace_id}, sort=[("userId", 1)], skip=offset, limit=limit)

    def iterate_by_user(self, workspace_id: str, *, batch_size: int) -> AsyncIterator[WorkspaceMemberRecord]:
        return self.iterate({"workspaceId": workspace_id}, sort=[("userId", 1)], batch_size=batch_size)

    async def of_users(self, workspace_id: str, user_ids: list[str]) -> list[WorkspaceMemberRecord]:
        return await self.find({"workspaceId": workspace_id, "userId": {"$in": user_ids}})

    async def with_roles(self, workspace_id: str, roles: list[str]) -> list[WorkspaceMemberRecord]:
        return await self.find({"workspaceId": workspace_id, "role": {"$in": roles}})

    async def delete_for_workspace(self, workspace_id: str) -> int:
        return await self.delete({"workspaceId": workspace_id})


class InviteRepository(Repository[InviteRecord]):
    collection_name = "workspace_invites"
    model = InviteRecord

    async def by_hash(self, code_hash: str) -> InviteRecord | None:
        return await self.find_one({"codeHash": code_hash})

    async def active(self, workspace_id: str) -> list[InviteRecord]:
        return await self.find({"workspaceId": workspace_id, "revokedAt": None}, sort=[("createdAt", -1)])

    async def revoke(self, workspace_id: str, invite_id: str, now: datetime) -> bool:
        flt = {"id": invite_id, "workspaceId": workspace_id, "revokedAt": None}
        return await self.update(flt, {"$set": {"revokedAt": now}}) is not None

    async def revoke_all(self, workspace_id: str, now: datetime) -> int:
        return await self.update_many({"workspaceId": workspace_id, "revokedAt": None}, {"$set": {"revokedAt": now}})

    async def use(self, invite: InviteRecord) -> bool:
        """Count one use atomically: with max uses, only that many joins can win the condition."""
        cond: dict[str, object] = {"id": invite.id, "revokedAt": None}
        if invite.max_uses is not None:
            cond["uses"] = {"$lt": invite.max_uses}
        return await self.update(cond, {"$inc": {"uses": 1}}) is not None

    async def delete_for_workspace(self, workspace_id: str) -> int:
        return await self.delete({"workspaceId": workspace_id})


class BanRepository(Repository[BanRecord]):
    collection_name = "workspace_bans"
    model = BanRecord

    async def of(self, workspace_id: str, user_id: str) -> BanRecord | None:
        return await self.find_one({"workspaceId": workspace_id, "userId": user_id})

    async def of_users(self, user_ids: list[str]) -> list[BanRecord]:
        """Every ban of these users, in any workspace."""
        return await self.find({"userId": {"$in": user_ids}})

    async def newest(self, workspace_id: str, limit: int) -> list[BanRecord]:
        return await self.find({"workspaceId": workspace_id}, sort=[("createdAt", -1)], limit=limit)

    async def lift(self, workspace_id: str, user_id: str) -> bool:
        return await self.delete({"workspaceId": workspace_id, "userId": user_id}) > 0

    async def delete_for_workspace(self, workspace_id: str) -> int:
        return await self.delete({"workspaceId": workspace_id})
