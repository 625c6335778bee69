"""Workspaces: create (unique slug), update, delete, invites, join, leave, roles, kick, ban, transfer.

Every rule about who may do what comes from `policy`; this module only says what each action does.
Invite codes are random (128 bits) and shown once: only their SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import timedelta

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.rooms import user_room
from connectnow.repositories.deletions import WorkspaceDeletionRecord
from connectnow.services import policy
from connectnow.services.auth import Principal
from connectnow.services.channels import ChannelService
from connectnow.services.chat_access import ChatAccess, workspace_room
from connectnow.services.policy import Action
from connectnow.store.port import DuplicateKeyError
from models.channels import ChannelRecord
from models.workspaces import (
    BanCreate,
    BanPublic,
    BanRecord,
    InviteCreate,
    InviteCreated,
    InvitePublic,
    InviteRecord,
    MemberPage,
    MemberPublic,
    MemberRole,
    MemberSearch,
    MemberUpdate,
    WorkspaceCreate,
    WorkspaceMemberRecord,
    WorkspacePublic,
    WorkspaceRecord,
    WorkspaceUpdate,
    is_expired,
)

SLUG_MAX = 48
SLUG_ATTEMPTS = 20  # numbered suffixes tried before a random one
INVITE_CODE_BYTES = 16


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:SLUG_MAX].strip("-")
    return slug or "workspace"


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class WorkspaceService:
    def __init__(self, access: ChatAccess, hub: Emitter, channels: ChannelService) -> None:
        self.access = access
        self.hub = hub
        self.channels = channels

    # --- views -----------------------------------------------------------------------------------------------
    @staticmethod
    def public(ws: WorkspaceRecord, role: MemberRole | None = None) -> WorkspacePublic:
        return WorkspacePublic.model_validate(ws, from_attributes=True).model_copy(update={"my_role": role})

    async def member_public(self, members: list[WorkspaceMemberRecord]) -> list[MemberPublic]:
        users = {u.id: u for u in await self.access.users.by_ids([m.user_id for m in members])}
        out = []
        for m in members:
            user = users.get(m.user_id)
            out.append(
                MemberPublic.model_validate(m, from_attributes=True).model_copy(
                    update={
                        "username": user.username if user else None,
                        "display_name": user.display_name if user else None,
                    }
                )
            )
        return out

    # --- create, read, update, delete ------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: WorkspaceCreate) -> WorkspacePublic:
        now = utcnow()
        base = slugify(data.name)
        ws = WorkspaceRecord(
            id=new_id(),
            name=data.name,
            slug=base,
            description=data.description,
            icon_url=data.icon_url,
            owner_id=principal.user_id,
            is_public=data.is_public,
            created_at=now,
            updated_at=now,
        )
        ws = await self._insert_with_unique_slug(ws, base)
        await self._add_member(ws, principal.user_id, MemberRole.OWNER)
        await self.channels.create_default(ws, principal.user_id)
        return self.public(ws, MemberRole.OWNER)

    async def _insert_with_unique_slug(self, ws: WorkspaceRecord, base: str) -> WorkspaceRecord:
        candidates = [base, *(f"{base}-{n}" for n in range(2, SLUG_ATTEMPTS + 2))]
        candidates.append(f"{base}-{secrets.token_hex(4)}")
        for slug in candidates:
            ws = ws.model_copy(update={"slug": slug})
            try:
                return await self.access.workspaces.insert(ws)
            except DuplicateKeyError:
                continue
        raise AppError(errors.SLUG_TAKEN)

    async def _add_member(self, ws: WorkspaceRecord, user_id: str, role: MemberRole) -> WorkspaceMemberRecord:
        member = WorkspaceMemberRecord(id=new_id(), workspace_id=ws.id, user_id=user_id, role=role, joined_at=utcnow())
        try:
            await self.access.members.insert(member)
        except DuplicateKeyError as exc:
            raise AppError(errors.ALREADY_MEMBER) from exc
        await self.hub.join_user(user_id, workspace_room(ws.id))
        return member

    async def mine(self, principal: Principal) -> list[WorkspacePublic]:
        memberships = {m.workspace_id: m.role for m in await self.access.members.for_user(principal.user_id)}
        return [self.public(ws, memberships[ws.id]) for ws in await self.access.workspaces.by_ids(list(memberships))]

    async def get(self, principal: Principal, workspace_id: str) -> WorkspacePublic:
        ws, member = await self.access.membership(workspace_id, principal.user_id)
        return self.public(ws, member.role)

    async def update(self, principal: Principal, data: WorkspaceUpdate) -> WorkspacePublic:
        ws, member = await self.access.membership(data.workspace_id, principal.user_id)
        policy.require(member.role, Action.WORKSPACE_UPDATE)
        fields = data.model_dump(exclude_unset=True, exclude={"workspace_id"}, by_alias=True)
        if not fields:
            return self.public(ws, member.role)
        updated = await self.access.workspaces.set_fields(ws.id, {**fields, "updatedAt": utcnow()})
        assert updated is not None
        await self.hub.emit("workspace:updated", {"workspace": self.public(updated)}, room=workspace_room(ws.id))
        return self.public(updated, member.role)

    async def delete(self, principal: Principal, workspace_id: str) -> None:
        """Delete a workspace: access ends at once, the data goes in the `workspace-deletion` job.

        Order: the job is stored first (whatever happens next, the data is removed in the end); then the
        workspace and its memberships are removed, so every request about it answers NOT_FOUND; then
        `workspace:deleted` is sent (after those writes: it also flushes every worker's access cache, which
        is why it cannot wait for the whole cascade) and the sockets leave its rooms. The job then removes
        channels, messages, reactions, files, counters, moderation records, reports, invites and bans."""
        ws, member = await self.access.membership(workspace_id, principal.user_id)
        policy.require(member.role, Action.WORKSPACE_DELETE)
        members = await self.access.members.in_workspace(ws.id, limit=100_000)
        now = utcnow()
        job = WorkspaceDeletionRecord(
            id=new_id(), workspace_id=ws.id, requested_by=principal.user_id, scheduled_for=now, created_at=now
        )
        await self.access.workspace_deletions.insert(job)
        await self.access.revoke_workspace(ws.id)
        await self.hub.emit("workspace:deleted", {"workspaceId": ws.id}, room=workspace_room(ws.id))
        for m in members:
            await self.channels.forget_member(ws.id, m.user_id)

    # --- invites ---------------------------------------------------------------------------------------------------
    async def create_invite(self, principal: Principal, data: InviteCreate) -> InviteCreated:
        _, member = await self.access.membership(data.workspace_id, principal.user_id)
        policy.require(member.role, Action.INVITE_MANAGE)
        code = secrets.token_urlsafe(INVITE_CODE_BYTES)
        now = utcnow()
        invite = InviteRecord(
            id=new_id(),
            workspace_id=data.workspace_id,
            code_hash=code_digest(code),
            created_by=principal.user_id,
            expires_at=now + timedelta(seconds=data.expires_in_seconds) if data.expires_in_seconds else None,
            max_uses=data.max_uses,
            created_at=now,
        )
        await self.access.invites.insert(invite)
        return InviteCreated.model_validate({**invite.model_dump(), "code": code})

    async def list_invites(self, principal: Principal, workspace_id: str) -> list[InvitePublic]:
        _, member = await self.access.membership(workspace_id, principal.user_id)
        policy.require(member.role, Action.INVITE_MANAGE)
        return [
            InvitePublic.model_validate(i, from_attributes=True) for i in await self.access.invites.active(workspace_id)
        ]

    async def revoke_invite(self, principal: Principal, workspace_id: str, invite_id: str) -> None:
        _, member = await self.access.membership(workspace_id, principal.user_id)
        policy.require(member.role, Action.INVITE_MANAGE)
        if not await self.access.invites.revoke(workspace_id, invite_id, utcnow()):
            raise AppError(errors.NOT_FOUND, "No such invite")

    async def rotate_invites(self, principal: Principal, data: InviteCreate) -> InviteCreated:
        """Revoke every active code of the workspace and issue a new one."""
        _, member = await self.access.membership(data.workspace_id, principal.user_id)
        policy.require(member.role, Action.INVITE_MANAGE)
        await self.access.invites.revoke_all(data.workspace_id, utcnow())
        return await self.create_invite(principal, data)

    # --- joining and leaving -----------------------------------------------------------------------------------
    async def join_by_code(self, principal: Principal, code: str) -> WorkspacePublic:
        invite = await self.access.invites.by_hash(code_digest(code))
        now = utcnow()
        if invite is None or invite.revoked_at is not None or is_expired(invite, now):
            raise AppError(errors.INVITE_INVALID)
        ws = await self.access.workspace(invite.workspace_id)
        await self._refuse_banned_or_member(ws.id, principal.user_id)
        if not await self.access.invites.use(invite):
            raise AppError(errors.INVITE_INVALID)
        return await self._join(ws, principal.user_id)

    async def join_public(self, principal: Principal, workspace_id: str) -> WorkspacePublic:
        ws = await self.access.workspace(workspace_id)
        await self._refuse_banned_or_member(ws.id, principal.user_id)
        if not ws.is_public:
            raise AppError(errors.NOT_FOUND, "No such workspace")
        return await self._join(ws, principal.user_id)

    async def _refuse_banned_or_member(self, workspace_id: str, user_id: str) -> None:
        if await self.access.bans.of(workspace_id, user_id) is not None:
            raise AppError(errors.MEMBER_BANNED)
        if await self.access.members.of(workspace_id, user_id) is not None:
            raise AppError(errors.ALREADY_MEMBER)

    async def _join(self, ws: WorkspaceRecord, user_id: str) -> WorkspacePublic:
        member = await self._add_member(ws, user_id, MemberRole.MEMBER)
        await self.hub.emit(
            "workspaceMember:joined", {"member": (await self.member_public([member]))[0]}, room=workspace_room(ws.id)
        )
        default = await self._default_channel(ws.id)
        if default is not None:
            await self.channels.enroll(default, user_id)
        for channel in await self.access.readable_channels(user_id, [ws.id]):
            await self.channels.sync_room(channel, user_id)
        return self.public(ws, member.role)

    async def _default_channel(self, workspace_id: str) -> ChannelRecord | None:
        return await self.access.channels.default_of(workspace_id)

    async def leave(self, principal: Principal, workspace_id: str) -> None:
        ws, member = await self.access.membership(workspace_id, principal.user_id)
        if member.role is MemberRole.OWNER:
            raise AppError(errors.OWNER_CANNOT_LEAVE)
        await self._remove(ws, principal.user_id, "workspaceMember:left", "left the workspace", principal.user_id)

    async def _remove(self, ws: WorkspaceRecord, user_id: str, event: str, verb: str, actor_id: str) -> None:
        if not await self.access.members.remove(ws.id, user_id):
            return
        await self.channels.forget_member(ws.id, user_id)
        body = {"workspaceId": ws.id, "userId": user_id}
        await self.hub.emit(event, body, room=workspace_room(ws.id))
        await self.hub.emit("workspace:removed", {"workspaceId": ws.id, "reason": event}, room=user_room(user_id))
        default = await self._default_channel(ws.id)
        if default is not None:
            name = await self.channels._name(user_id)
            await self.channels.messages.post_system(default.id, ws.id, actor_id, event, f"{name} {verb}")

    # --- members ---------------------------------------------------------------------------------------------------
    async def members(self, principal: Principal, workspace_id: str) -> list[MemberPublic]:
        _, member = await self.access.membership(workspace_id, principal.user_id)
        policy.require(member.role, Action.MEMBER_LIST)
        return await self.member_public(await self.access.members.in_workspace(workspace_id))

    async def search_members(self, principal: Principal, data: MemberSearch) -> MemberPage:
        """A page of the directory in username order. Filtered in memory over the workspace's members: two
        queries whatever the query, fine for the member counts a workspace has."""
        _, member = await self.access.membership(data.workspace_id, principal.user_id)
        policy.require(member.role, Action.MEMBER_LIST)
        members = {m.user_id: m for m in await self.access.members.in_workspace(data.workspace_id, limit=100_000)}
        needle = data.query.casefold()
        users = sorted(
            (
                u
                for u in await self.access.users.by_ids(list(members))
                if (data.after is None or u.username_lower > data.after)
                and _matches(needle, u.username, u.display_name, members[u.id].nickname)
            ),
            key=lambda u: u.username_lower,
        )
        page = users[: data.limit]
        cursor = page[-1].username_lower if len(users) > data.limit else None
        return MemberPage(members=await self.member_public([members[u.id] for u in page]), next_cursor=cursor)

    async def _target(self, workspace_id: str, user_id: str) -> WorkspaceMemberRecord:
        target = await self.access.members.of(workspace_id, user_id)
        if target is None:
            raise AppError(errors.NOT_FOUND, "That user is not in this workspace")
        return target

    async def update_member(self, principal: Principal, data: MemberUpdate) -> MemberPublic:
        ws, me = await self.access.membership(data.workspace_id, principal.user_id)
        target = await self._target(ws.id, data.user_id)
        fields: dict[str, object] = {}
        if "nickname" in data.model_fields_set:
            if target.user_id != principal.user_id:
                policy.require_over(me.role, target.role, Action.MEMBER_SET_ROLE)
            fields["nickname"] = data.nickname
        if data.role is not None and data.role is not target.role:
            policy.require_over(me.role, target.role, Action.MEMBER_SET_ROLE)
            if data.role not in policy.ASSIGNABLE or not policy.outranks(me.role, data.role):
                raise AppError(errors.ROLE_TOO_LOW, f"A {me.role.value} may not grant {data.role.value}")
            fields["role"] = data.role.value
        if not fields:
            return (await self.member_public([target]))[0]
        updated = await self.access.members.set_fields(target.id, fields)
        assert updated is not None
        public = (await self.member_public([updated]))[0]
        await self.hub.emit("workspaceMember:updated", {"member": public}, room=workspace_room(ws.id))
        if "role" in fields:
            await self._after_role_change(ws, updated, principal.user_id)
        return public

    async def _after_role_change(self, ws: WorkspaceRecord, member: WorkspaceMemberRecord, actor_id: str) -> None:
        # A guest sees fewer channels than a member: recompute the user's channel rooms.
        for channel in await self.access.channels.in_workspace(ws.id):
            await self.channels.sync_room(channel, member.user_id)
        default = await self._default_channel(ws.id)
        if default is not None:
            name = await self.channels._name(member.user_id)
            text = f"{name} is now {member.role.value}"
            await self.channels.messages.post_system(default.id, ws.id, actor_id, "role.changed", text)

    async def kick(self, principal: Principal, workspace_id: str, user_id: str) -> None:
        ws, me = await self.access.membership(workspace_id, principal.user_id)
        target = await self._target(ws.id, user_id)
        policy.require_over(me.role, target.role, Action.MEMBER_KICK)
        await self._remove(ws, user_id, "workspaceMember:kicked", "was removed from the workspace", principal.user_id)

    async def ban(self, principal: Principal, data: BanCreate) -> BanPublic:
        ws, me = await self.access.membership(data.workspace_id, principal.user_id)
        target = await self.access.members.of(ws.id, data.user_id)
        policy.require(me.role, Action.MEMBER_BAN)
        if target is not None:
            policy.require_over(me.role, target.role, Action.MEMBER_BAN)
        elif data.user_id == principal.user_id or await self.access.users.get(data.user_id) is None:
            raise AppError(errors.NOT_FOUND, "No such user")
        ban = BanRecord(
            id=new_id(),
            workspace_id=ws.id,
            user_id=data.user_id,
            banned_by=principal.user_id,
            reason=data.reason,
            created_at=utcnow(),
        )
        try:
            await self.access.bans.insert(ban)
        except DuplicateKeyError:
            existing = await self.access.bans.of(ws.id, data.user_id)
            assert existing is not None
            ban = existing
        await self._remove(ws, data.user_id, "workspaceMember:banned", "was banned", principal.user_id)
        return BanPublic.model_validate(ban, from_attributes=True)

    async def unban(self, principal: Principal, workspace_id: str, user_id: str) -> None:
        _, me = await self.access.membership(workspace_id, principal.user_id)
        policy.require(me.role, Action.MEMBER_BAN)
        if not await self.access.bans.lift(workspace_id, user_id):
            raise AppError(errors.NOT_FOUND, "No such ban")

    async def bans(self, principal: Principal, workspace_id: str) -> list[BanPublic]:
        _, me = await self.access.membership(workspace_id, principal.user_id)
        policy.require(me.role, Action.MEMBER_BAN)
        rows = await self.access.bans.newest(workspace_id, 1000)
        return [BanPublic.model_validate(b, from_attributes=True) for b in rows]

    async def transfer(self, principal: Principal, workspace_id: str, user_id: str) -> WorkspacePublic:
        """Make another member the owner; the old owner becomes an ADMIN."""
        ws, me = await self.access.membership(workspace_id, principal.user_id)
        policy.require(me.role, Action.WORKSPACE_TRANSFER)
        target = await self._target(ws.id, user_id)
        if target.user_id == principal.user_id:
            raise AppError(errors.VALIDATION_FAILED, "You already own this workspace")
        updated = await self.access.workspaces.change_owner(ws.id, principal.user_id, user_id, utcnow())
        if updated is None:
            raise AppError(errors.CONFLICT, "The owner changed meanwhile")
        await self.access.members.set_role(ws.id, user_id, MemberRole.OWNER)
        await self.access.members.set_role(ws.id, principal.user_id, MemberRole.ADMIN)
        for uid in (user_id, principal.user_id):
            m = await self.access.members.of(ws.id, uid)
            if m is not None:
                body = {"member": (await self.member_public([m]))[0]}
                await self.hub.emit("workspaceMember:updated", body, room=workspace_room(ws.id))
        await self.hub.emit("workspace:updated", {"workspace": self.public(updated)}, room=workspace_room(ws.id))
        return self.public(updated, MemberRole.ADMIN)


def _matches(needle: str, *fields: str | None) -> bool:
    return not needle or any(needle in f.casefold() for f in fields if f)
