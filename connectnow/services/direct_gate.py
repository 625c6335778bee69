"""Who may write to whom in direct messages: blocks, shared workspaces, and workspace bans.

- Opening a new conversation needs a shared workspace (`dm_require_shared_workspace`, on by default) when a
  user asks for it; conversations the server opens itself (scheduling reminders, scheduled posts) are vouched
  for by the server and skip that rule.
- A block (either way) stops every new message, in new and existing conversations (DM_BLOCKED); history
  stays readable.
- A workspace ban stops messages between the two when it was what they had in common: no workspace shared
  any more, and one of them is banned from a workspace the other belongs to (DM_NO_SHARED_WORKSPACE).
"""

from __future__ import annotations

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.direct import UserBlockRepository
from connectnow.repositories.workspaces import BanRepository, WorkspaceMemberRepository
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.direct import UserBlockPublic, UserBlockRecord


class DirectGate:
    def __init__(self, store: DocumentStore, *, require_shared_workspace: bool) -> None:
        self.blocks = UserBlockRepository(store)
        self.members = WorkspaceMemberRepository(store)
        self.bans = BanRepository(store)
        self.require_shared_workspace = require_shared_workspace

    # --- checks ------------------------------------------------------------------------------------------
    async def may_open(self, user_id: str, other_id: str, *, user_request: bool) -> None:
        """Before a NEW conversation is stored."""
        await self.may_send(user_id, other_id)
        if user_request and self.require_shared_workspace and not await self._shared(user_id, other_id):
            raise AppError(errors.DM_NO_SHARED_WORKSPACE)

    async def may_send(self, sender_id: str, recipient_id: str) -> None:
        """Before every new message."""
        if await self.blocks.between(sender_id, recipient_id):
            raise AppError(errors.DM_BLOCKED)
        if await self._separated_by_ban(sender_id, recipient_id):
            raise AppError(errors.DM_NO_SHARED_WORKSPACE)

    async def _workspaces(self, user_id: str) -> set[str]:
        return {m.workspace_id for m in await self.members.for_user(user_id)}

    async def _shared(self, a: str, b: str) -> bool:
        return bool(await self._workspaces(a) & await self._workspaces(b))

    async def _separated_by_ban(self, a: str, b: str) -> bool:
        banned = await self.bans.of_users([a, b])
        if not banned:
            return False  # the common case: one query
        spaces = {a: await self._workspaces(a), b: await self._workspaces(b)}
        if spaces[a] & spaces[b]:
            return False
        return any(ban.workspace_id in spaces[b if ban.user_id == a else a] for ban in banned)

    # --- blocking ----------------------------------------------------------------------------------------
    async def block(self, user_id: str, other_id: str) -> UserBlockPublic:
        if other_id == user_id:
            raise AppError(errors.DM_SELF, "You cannot block yourself")
        record = UserBlockRecord(id=new_id(), blocker_id=user_id, blocked_id=other_id, created_at=utcnow())
        try:
            await self.blocks.insert(record)
        except DuplicateKeyError:  # blocking twice is a no-op
            existing = await self.blocks.find_one({"blockerId": user_id, "blockedId": other_id})
            record = existing or record
        return UserBlockPublic.model_validate(record, from_attributes=True)

    async def unblock(self, user_id: str, other_id: str) -> None:
        await self.blocks.delete({"blockerId": user_id, "blockedId": other_id})

    async def blocked_by(self, user_id: str) -> list[UserBlockPublic]:
        rows = await self.blocks.find({"blockerId": user_id}, sort=[("createdAt", -1)], limit=1000)
        return [UserBlockPublic.model_validate(r, from_attributes=True) for r in rows]
