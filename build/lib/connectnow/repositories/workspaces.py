"""Workspaces, their members, invites and bans."""

from __future__ import annotations

from connectnow.repositories.base import Repository
from models.workspaces import BanRecord, InviteRecord, MemberRole, WorkspaceMemberRecord, WorkspaceRecord


class WorkspaceRepository(Repository[WorkspaceRecord]):
    collection_name = "workspaces"
    model = WorkspaceRecord

    async def by_ids(self, ids: list[str]) -> list[WorkspaceRecord]:
        return await self.find({"id": {"$in": sorted(set(ids))}}, sort=[("name", 1)]) if ids else []


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


class InviteRepository(Repository[InviteRecord]):
    collection_name = "workspace_invites"
    model = InviteRecord

    async def by_hash(self, code_hash: str) -> InviteRecord | None:
        return await self.find_one({"codeHash": code_hash})

    async def active(self, workspace_id: str) -> list[InviteRecord]:
        return await self.find({"workspaceId": workspace_id, "revokedAt": None}, sort=[("createdAt", -1)])


class BanRepository(Repository[BanRecord]):
    collection_name = "workspace_bans"
    model = BanRecord

    async def of(self, workspace_id: str, user_id: str) -> BanRecord | None:
        return await self.find_one({"workspaceId": workspace_id, "userId": user_id})
