"""Who may see what in the chat core: membership look-ups, channel visibility, and the rooms of a user.

Every chat service asks here before acting, so "can this user read this channel" has one answer:
- a workspace member may read a channel when they are in it, or when it is public and they are not a GUEST
  (guests see only the channels they were added to);
- a banned user is not a member (a ban removes the membership), so they are in no room and read nothing.
Unknown ids and channels the caller may not see answer the same NOT_FOUND, so ids cannot be probed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from connectnow import errors
from connectnow.errors import AppError
from connectnow.realtime.rooms import channel_room, workspace_room
from connectnow.repositories.accounts import UserRepository
from connectnow.repositories.channels import ChannelMemberRepository, ChannelRepository
from connectnow.repositories.deletions import WorkspaceDeletionRepository
from connectnow.repositories.workspaces import (
    BanRepository,
    InviteRepository,
    WorkspaceMemberRepository,
    WorkspaceRepository,
)
from connectnow.store.port import DocumentStore
from models.channels import ChannelMemberRecord, ChannelRecord, ChannelRole
from models.workspaces import MemberRole, WorkspaceMemberRecord, WorkspaceRecord


@dataclass(frozen=True, slots=True)
class ChannelAccess:
    channel: ChannelRecord
    member: WorkspaceMemberRecord  # the caller's workspace membership
    channel_member: ChannelMemberRecord | None  # None when reading a public channel without joining

    @property
    def role(self) -> MemberRole:
        return self.member.role

    @property
    def channel_role(self) -> ChannelRole | None:
        return self.channel_member.role if self.channel_member is not None else None


def can_read(channel: ChannelRecord, member: WorkspaceMemberRecord | None, cm: ChannelMemberRecord | None) -> bool:
    if member is None:
        return False
    if cm is not None:
        return True
    return not channel.is_private and member.role is not MemberRole.GUEST


ACCESS_CACHE_SECONDS = 5.0  # a safety net: membership events flush the cache at once on every worker
ACCESS_CACHE_MAX = 50_000
# Hub operations after which cached access may be wrong: room moves, disconnects, and the events of
# workspace, membership and channel changes (role, archive, privacy, removal).
_ACCESS_OPS = frozenset({"join", "leave", "disconnect"})
_ACCESS_EVENTS = ("workspace", "channel:", "channelMember", "workspaceMember")


def changes_access(message: dict[str, Any]) -> bool:
    op = message.get("op")
    if op in _ACCESS_OPS:
        return True
    event = message.get("event")
    return op == "emit" and isinstance(event, str) and event.startswith(_ACCESS_EVENTS) and event != "channel:read"


class ChatAccess:
    def __init__(self, store: DocumentStore) -> None:
        self.workspaces = WorkspaceRepository(store)
        self.members = WorkspaceMemberRepository(store)
        self.invites = InviteRepository(store)
        self.bans = BanRepository(store)
        self.channels = ChannelRepository(store)
        self.channel_members = ChannelMemberRepository(store)
        self.users = UserRepository(store)
        self.workspace_deletions = WorkspaceDeletionRepository(store)
        # (channel, user) -> (expires at, access): the send path asks for every message.
        self._cache: dict[tuple[str, str], tuple[float, ChannelAccess]] = {}
        self._generation = 0  # moves on every flush, so a look-up that raced a flush is not cached

    def on_hub_op(self, message: dict[str, Any]) -> None:
        """A membership or channel change anywhere in the cluster: forget every cached access."""
        if changes_access(message):
            self._generation += 1
            self._cache.clear()

    # --- workspaces --------------------------------------------------------------------------------------
    async def workspace(self, workspace_id: str) -> WorkspaceRecord:
        ws = await self.workspaces.get(workspace_id)
        if ws is None:
            raise AppError(errors.NOT_FOUND, "No such workspace")
        return ws

    async def revoke_workspace(self, workspace_id: str) -> bool:
        """End all access to a workspace (its record and every membership); True when it still existed."""
        existed = await self.workspaces.delete_id(workspace_id)
        await self.members.delete_for_workspace(workspace_id)
        await self.channel_members.delete_for_workspace(workspace_id)
        return existed

    async def membership(self, workspace_id: str, user_id: str) -> tuple[WorkspaceRecord, WorkspaceMemberRecord]:
        """The workspace and the caller's membership; a private workspace hides itself from outsiders."""
        ws = await self.workspace(workspace_id)
        member = await self.members.of(workspace_id, user_id)
        if member is not None:
            return ws, member
        if await self.bans.of(workspace_id, user_id) is not None:
            raise AppError(errors.MEMBER_BANNED)
        if not ws.is_public:
            raise AppError(errors.NOT_FOUND, "No such workspace")
        raise AppError(errors.NOT_A_MEMBER)

    # --- channels ------------------------------------------------------------------------------------------
    async def channel(self, channel_id: str, user_id: str) -> ChannelAccess:
        """A channel the caller may read, with their memberships; NOT_FOUND otherwise. Cached per (channel,
        user) until a membership or channel event (see `on_hub_op`), at most ACCESS_CACHE_SECONDS."""
        key = (channel_id, user_id)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        access = await self._channel(channel_id, user_id)
        if generation == self._generation:
            if len(self._cache) >= ACCESS_CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now + ACCESS_CACHE_SECONDS, access)
        return access

    async def _channel(self, channel_id: str, user_id: str) -> ChannelAccess:
        channel = await self.channels.get(channel_id)
        if channel is None:
            raise AppError(errors.NOT_FOUND, "No such channel")
        member = await self.members.of(channel.workspace_id, user_id)
        cm = await self.channel_members.of(channel_id, user_id) if member is not None else None
        if member is None or not can_read(channel, member, cm):
            raise AppError(errors.NOT_FOUND, "No such channel")
        return ChannelAccess(channel, member, cm)

    async def can_read_channel(self, channel_id: str, user_id: str) -> bool:
        try:
            await self.channel(channel_id, user_id)
        except AppError:
            return False
        return True

    async def readers(self, channel: ChannelRecord) -> set[str]:
        """Every user who may read the channel now."""
        in_channel = {m.user_id for m in await self.channel_members.in_channel(channel.id)}
        if channel.is_private:
            return in_channel
        members = await self.members.in_workspace(channel.workspace_id, limit=100_000)
        return in_channel | {m.user_id for m in members if m.role is not MemberRole.GUEST}

    async def readers_among(self, channel: ChannelRecord, user_ids: list[str]) -> set[str]:
        """Which of these users may read the channel now: two queries, however many users (mentions)."""
        if not user_ids:
            return set()
        wanted = sorted(set(user_ids))
        members = {m.user_id: m for m in await self.members.of_users(channel.workspace_id, wanted)}
        in_channel = {cm.user_id: cm for cm in await self.channel_members.of_users(channel.id, wanted)}
        return {u for u in wanted if can_read(channel, members.get(u), in_channel.get(u))}

    async def readable_channels(self, user_id: str, workspace_ids: list[str] | None = None) -> list[ChannelRecord]:
        memberships = await self.members.for_user(user_id)
        roles = {m.workspace_id: m.role for m in memberships}
        if workspace_ids is not None:
            roles = {w: r for w, r in roles.items() if w in set(workspace_ids)}
        joined = {cm.channel_id for cm in await self.channel_members.for_user(user_id)}
        return [
            ch
            for ch in await self.channels.in_workspaces(list(roles))
            if ch.id in joined or (not ch.is_private and roles[ch.workspace_id] is not MemberRole.GUEST)
        ]

    async def rooms_for(self, user_id: str) -> list[str]:
        """Every workspace and channel room a user's socket belongs in (called on connect)."""
        workspaces = [m.workspace_id for m in await self.members.for_user(user_id)]
        channels = await self.readable_channels(user_id)
        return [*(workspace_room(w) for w in workspaces), *(channel_room(c.id) for c in channels)]
