"""Channels: create, list, update (topic, privacy, position), archive, and channel membership.

Room rule: after any change that can alter who may read a channel, `sync_room` puts each affected user's
sockets in or out of `channel:{id}` at once (Hub.join_user / leave_user, cluster-wide).
"""

from __future__ import annotations

from typing import Any

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.realtime.emitter import Emitter
from connectnow.realtime.rooms import user_room
from connectnow.services import policy
from connectnow.services.auth import Principal
from connectnow.services.chat_access import ChannelAccess, ChatAccess, can_read, channel_room, workspace_room
from connectnow.services.messages import MessageService
from connectnow.services.policy import Action
from connectnow.store.port import DuplicateKeyError
from models.channels import (
    DEFAULT_CHANNEL,
    ChannelCreate,
    ChannelMemberChange,
    ChannelMemberPublic,
    ChannelMemberRecord,
    ChannelMute,
    ChannelPreferences,
    ChannelPublic,
    ChannelRecord,
    ChannelRole,
    ChannelRoleChange,
    ChannelUpdate,
)
from models.workspaces import WorkspaceRecord


class ChannelService:
    def __init__(self, access: ChatAccess, hub: Emitter, messages: MessageService) -> None:
        self.access = access
        self.hub = hub
        self.messages = messages

    # --- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def public(channel: ChannelRecord, is_member: bool | None = None) -> ChannelPublic:
        return ChannelPublic.model_validate(channel, from_attributes=True).model_copy(update={"is_member": is_member})

    async def sync_room(self, channel: ChannelRecord, user_id: str) -> bool:
        """Put the user's sockets in the channel room if they may read it now, else take them out."""
        member = await self.access.members.of(channel.workspace_id, user_id)
        cm = await self.access.channel_members.of(channel.id, user_id) if member else None
        readable = can_read(channel, member, cm)
        if readable:
            await self.hub.join_user(user_id, channel_room(channel.id))
        else:
            await self.hub.leave_user(user_id, channel_room(channel.id))
        return readable

    async def _announce(self, event: str, channel: ChannelRecord, data: Any) -> None:
        # The channel's room holds exactly the sockets of those who may read it (for a public channel every
        # member but guests not added to it: ROLES.md), so a guest never hears of a channel hidden from them.
        await self.hub.emit(event, data, room=channel_room(channel.id))

    async def _add_member(self, channel: ChannelRecord, user_id: str, role: ChannelRole) -> ChannelMemberRecord | None:
        record = ChannelMemberRecord(
            id=new_id(),
            channel_id=channel.id,
            workspace_id=channel.workspace_id,
            user_id=user_id,
            role=role,
            joined_at=utcnow(),
        )
        try:
            await self.access.channel_members.insert(record)
        except DuplicateKeyError:
            return None
        await self.sync_room(channel, user_id)
        return record

    async def _system(self, channel: ChannelRecord, actor_id: str, event: str, text: str) -> None:
        await self.messages.post_system(channel.id, channel.workspace_id, actor_id, event, text)

    async def _name(self, user_id: str) -> str:
        user = await self.access.users.get(user_id)
        return user.username if user else "someone"

    # --- create ------------------------------------------------------------------------------------------------
    async def create_default(self, workspace: WorkspaceRecord, owner_id: str) -> ChannelRecord:
        now = utcnow()
        channel = ChannelRecord(
            id=new_id(),
            workspace_id=workspace.id,
            name=DEFAULT_CHANNEL,
            name_lower=DEFAULT_CHANNEL,
            description="Everyone in the workspace",
            is_default=True,
            position=0,
            created_by=owner_id,
            created_at=now,
            updated_at=now,
        )
        await self.access.channels.insert(channel)
        await self._add_member(channel, owner_id, ChannelRole.ADMIN)
        return channel

    async def create(self, principal: Principal, data: ChannelCreate) -> ChannelPublic:
        _, member = await self.access.membership(data.workspace_id, principal.user_id)
        policy.require(member.role, Action.CHANNEL_CREATE_PRIVATE if data.is_private else Action.CHANNEL_CREATE)
        invitees = sorted(set(data.member_ids) - {principal.user_id})
        for uid in invitees:  # all or nothing: a foreign id stores no channel
            if await self.access.members.of(data.workspace_id, uid) is None:
                raise AppError(errors.NOT_FOUND, "A listed member is not in this workspace", details={"userId": uid})
        now = utcnow()
        position = (
            data.position
            if data.position is not None
            else await self.access.channels.last_position(data.workspace_id) + 1
        )
        channel = ChannelRecord(
            id=new_id(),
            workspace_id=data.workspace_id,
            name=data.name,
            name_lower=data.name.lower(),
            description=data.description,
            topic=data.topic,
            type=data.type,
            is_private=data.is_private,
            position=position,
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.access.channels.insert(channel)
        except DuplicateKeyError as exc:
            raise AppError(errors.CHANNEL_NAME_TAKEN) from exc
        await self._add_member(channel, principal.user_id, ChannelRole.ADMIN)
        for uid in invitees:
            await self._add_member(channel, uid, ChannelRole.MEMBER)
        if not channel.is_private:
            for uid in await self.access.readers(channel):
                await self.hub.join_user(uid, channel_room(channel.id))
        await self._announce("channel:created", channel, {"channel": self.public(channel)})
        return self.public(channel, True)

    # --- read --------------------------------------------------------------------------------------------------
    async def visible(self, principal: Principal, workspace_id: str) -> list[ChannelPublic]:
        await self.access.membership(workspace_id, principal.user_id)
        joined = {cm.channel_id for cm in await self.access.channel_members.for_user(principal.user_id, workspace_id)}
        channels = await self.access.readable_channels(principal.user_id, [workspace_id])
        channels.sort(key=lambda c: (c.position, c.name_lower))
        return [self.public(c, c.id in joined) for c in channels]

    async def get(self, principal: Principal, channel_id: str) -> ChannelPublic:
        access = await self.access.channel(channel_id, principal.user_id)
        return self.public(access.channel, access.channel_member is not None)

    async def members(self, principal: Principal, channel_id: str) -> list[ChannelMemberPublic]:
        await self.access.channel(channel_id, principal.user_id)
        rows = await self.access.channel_members.in_channel(channel_id, limit=1000)
        return [ChannelMemberPublic.model_validate(r, from_attributes=True) for r in rows]

    # --- update ------------------------------------------------------------------------------------------------
    @staticmethod
    def _may_manage(access: ChannelAccess) -> None:
        policy.require_in_channel(access.role, access.channel_role, Action.CHANNEL_UPDATE)

    async def update(self, principal: Principal, data: ChannelUpdate) -> ChannelPublic:
        access = await self.access.channel(data.channel_id, principal.user_id)
        self._may_manage(access)
        old = access.channel
        if old.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        fields = data.model_dump(exclude_unset=True, exclude={"channel_id"})
        if not fields:
            return self.public(old, access.channel_member is not None)
        if "name" in fields:
            if old.is_default and fields["name"] != old.name:
                raise AppError(errors.FORBIDDEN, "The default channel keeps its name")
            fields["name_lower"] = fields["name"].lower()
        if fields.get("is_private") and old.is_default:
            raise AppError(errors.FORBIDDEN, "The default channel stays public")
        changed = {_camel(k): v for k, v in fields.items()} | {"updatedAt": utcnow()}
        try:
            channel = await self.access.channels.set_fields(old.id, changed)
        except DuplicateKeyError as exc:
            raise AppError(errors.CHANNEL_NAME_TAKEN) from exc
        assert channel is not None
        if channel.is_private != old.is_private:
            await self._resync_workspace(channel)
        if "topic" in fields and channel.topic != old.topic:
            who = await self._name(principal.user_id)
            await self._system(
                channel, principal.user_id, "topic.changed", f"{who} set the topic: {channel.topic or ''}"
            )
        await self._announce("channel:updated", channel, {"channel": self.public(channel)})
        return self.public(channel, access.channel_member is not None)

    async def _resync_workspace(self, channel: ChannelRecord) -> None:
        """Privacy changed: move every workspace member in or out of the room, tell those who lost it."""
        for member in await self.access.members.in_workspace(channel.workspace_id, limit=100_000):
            if not await self.sync_room(channel, member.user_id):
                await self.hub.emit("channel:removed", {"channelId": channel.id}, room=user_room(member.user_id))

    async def set_archived(self, principal: Principal, channel_id: str, archived: bool) -> ChannelPublic:
        access = await self.access.channel(channel_id, principal.user_id)
        policy.require(access.role, Action.CHANNEL_ARCHIVE)
        if access.channel.is_default and archived:
            raise AppError(errors.FORBIDDEN, "The default channel cannot be archived")
        channel = await self.access.channels.set_fields(channel_id, {"isArchived": archived, "updatedAt": utcnow()})
        assert channel is not None
        await self._announce("channel:updated", channel, {"channel": self.public(channel)})
        return self.public(channel, access.channel_member is not None)

    # --- membership --------------------------------------------------------------------------------------------
    async def join(self, principal: Principal, channel_id: str) -> ChannelPublic:
        access = await self.access.channel(channel_id, principal.user_id)
        channel = access.channel
        if access.channel_member is not None:
            return self.public(channel, True)
        policy.require(access.role, Action.CHANNEL_JOIN_PUBLIC)
        if channel.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        if await self._add_member(channel, principal.user_id, ChannelRole.MEMBER) is not None:
            await self._joined(channel, principal.user_id, principal.user_id)
        return self.public(channel, True)

    async def enroll(self, channel: ChannelRecord, user_id: str) -> None:
        """Put a new workspace member in a channel (the default one) without a permission check."""
        if await self._add_member(channel, user_id, ChannelRole.MEMBER) is not None:
            await self._joined(channel, user_id, user_id)

    async def _joined(self, channel: ChannelRecord, user_id: str, actor_id: str) -> None:
        name = await self._name(user_id)
        await self.hub.emit(
            "channelMember:joined", {"channelId": channel.id, "userId": user_id}, room=channel_room(channel.id)
        )
        await self._system(channel, actor_id, "member.joined", f"{name} joined #{channel.name}")

    async def leave(self, principal: Principal, channel_id: str) -> None:
        access = await self.access.channel(channel_id, principal.user_id)
        if access.channel_member is None:
            raise AppError(errors.NOT_A_MEMBER)
        await self._drop(access.channel, principal.user_id, principal.user_id, "member.left", "left")

    async def _drop(self, channel: ChannelRecord, user_id: str, actor_id: str, event: str, verb: str) -> None:
        if not await self.access.channel_members.remove(channel.id, user_id):
            return
        name = await self._name(user_id)
        body = {"channelId": channel.id, "userId": user_id}
        await self.hub.emit("channelMember:left", body, room=channel_room(channel.id))
        if not await self.sync_room(channel, user_id):
            await self.hub.emit("channel:removed", {"channelId": channel.id}, room=user_room(user_id))
        await self._system(channel, actor_id, event, f"{name} {verb} #{channel.name}")

    async def add_member(self, principal: Principal, data: ChannelMemberChange) -> ChannelMemberPublic:
        access = await self.access.channel(data.channel_id, principal.user_id)
        policy.require(access.role, Action.CHANNEL_MEMBER_ADD)
        if access.channel_member is None and access.channel.is_private:
            raise AppError(errors.NOT_A_MEMBER)
        if access.channel.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        if await self.access.members.of(access.channel.workspace_id, data.user_id) is None:
            raise AppError(errors.NOT_FOUND, "That user is not in this workspace")
        record = await self._add_member(access.channel, data.user_id, ChannelRole.MEMBER)
        if record is None:
            raise AppError(errors.ALREADY_MEMBER)
        await self.hub.emit(
            "channel:added", {"channel": self.public(access.channel, True)}, room=user_room(data.user_id)
        )
        await self._joined(access.channel, data.user_id, principal.user_id)
        return ChannelMemberPublic.model_validate(record, from_attributes=True)

    async def remove_member(self, principal: Principal, data: ChannelMemberChange) -> None:
        access = await self.access.channel(data.channel_id, principal.user_id)
        if data.user_id != principal.user_id:
            self._may_remove(access)
        if await self.access.channel_members.of(data.channel_id, data.user_id) is None:
            raise AppError(errors.NOT_FOUND, "That user is not in this channel")
        await self._drop(access.channel, data.user_id, principal.user_id, "member.removed", "was removed from")

    @staticmethod
    def _may_remove(access: ChannelAccess) -> None:
        policy.require_in_channel(access.role, access.channel_role, Action.CHANNEL_MEMBER_REMOVE)

    async def set_role(self, principal: Principal, data: ChannelRoleChange) -> ChannelMemberPublic:
        """Promote or demote a channel member. Workspace ADMIN+ may set any channel role; a channel ADMIN
        (who is no workspace manager) may promote anyone, demote moderators and step down, but not demote
        another channel ADMIN."""
        access = await self.access.channel(data.channel_id, principal.user_id)
        policy.require_in_channel(access.role, access.channel_role, Action.CHANNEL_MEMBER_SET_ROLE)
        if access.channel.is_archived:
            raise AppError(errors.CHANNEL_ARCHIVED)
        target = await self.access.channel_members.of(data.channel_id, data.user_id)
        if target is None:
            raise AppError(errors.NOT_FOUND, "That user is not in this channel")
        if target.role is data.role:
            return ChannelMemberPublic.model_validate(target, from_attributes=True)
        acts_as_manager = policy.allows(access.role, Action.CHANNEL_MEMBER_SET_ROLE)
        demotes_admin = target.role is ChannelRole.ADMIN and target.user_id != principal.user_id
        if demotes_admin and not acts_as_manager:
            raise AppError(errors.ROLE_TOO_LOW, "Only a workspace ADMIN may demote another channel ADMIN")
        record = await self.access.channel_members.set_fields(target.id, {"role": data.role.value})
        assert record is not None
        # The event also flushes every worker's access cache, so the new role applies to the next request.
        body = {"channelId": data.channel_id, "userId": data.user_id, "role": data.role.value}
        await self.hub.emit("channelMember:updated", body, room=channel_room(data.channel_id))
        who, whom = await self._name(principal.user_id), await self._name(data.user_id)
        await self._system(
            access.channel, principal.user_id, "role.changed", f"{who} made {whom} channel {data.role.value}"
        )
        return ChannelMemberPublic.model_validate(record, from_attributes=True)

    async def set_muted(self, principal: Principal, data: ChannelMute) -> ChannelMemberPublic:
        prefs = ChannelPreferences.model_validate({"channelId": data.channel_id, "isMuted": data.is_muted})
        return await self.set_preferences(principal, prefs)

    async def set_preferences(self, principal: Principal, data: ChannelPreferences) -> ChannelMemberPublic:
        """Mute and notify level, the caller's own; their other devices hear of it (`channel:preferences`)."""
        access = await self.access.channel(data.channel_id, principal.user_id)
        if access.channel_member is None:
            raise AppError(errors.NOT_A_MEMBER)
        fields = data.model_dump(exclude_none=True, exclude={"channel_id"}, by_alias=True, mode="json")
        record = access.channel_member
        if fields:
            updated = await self.access.channel_members.set_fields(record.id, fields)
            assert updated is not None
            record = updated
        public = ChannelMemberPublic.model_validate(record, from_attributes=True)
        await self.hub.emit(
            "channelMember:preferences",
            public.model_dump(mode="json", by_alias=True),
            room=user_room(principal.user_id),
        )
        return public

    async def forget_member(self, workspace_id: str, user_id: str) -> None:
        """A member left, was kicked or banned: drop channel memberships and every room of the workspace."""
        for channel in await self.access.channels.in_workspace(workspace_id):
            await self.hub.leave_user(user_id, channel_room(channel.id))
        await self.access.channel_members.remove_from_workspace(workspace_id, user_id)
        await self.hub.leave_user(user_id, workspace_room(workspace_id))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
