"""Socket.IO events for channels and channel membership."""

from __future__ import annotations

from handlers.socket.router import SocketContext, SocketRouter
from models.channels import (
    ChannelCreate,
    ChannelList,
    ChannelMemberChange,
    ChannelMemberPublic,
    ChannelMute,
    ChannelPreferences,
    ChannelPublic,
    ChannelRoleChange,
    ChannelUpdate,
)
from models.messages import ChannelRef

router = SocketRouter()


@router.event("channel:create", ChannelCreate)
async def create(ctx: SocketContext, data: ChannelCreate) -> ChannelPublic:
    return await ctx.svc.channels.create(ctx.principal, data)


@router.event("channel:list", ChannelList)
async def list_channels(ctx: SocketContext, data: ChannelList) -> list[ChannelPublic]:
    return await ctx.svc.channels.visible(ctx.principal, data.workspace_id)


@router.event("channel:get", ChannelRef)
async def get(ctx: SocketContext, data: ChannelRef) -> ChannelPublic:
    return await ctx.svc.channels.get(ctx.principal, data.channel_id)


@router.event("channel:update", ChannelUpdate)
async def update(ctx: SocketContext, data: ChannelUpdate) -> ChannelPublic:
    return await ctx.svc.channels.update(ctx.principal, data)


@router.event("channel:archive", ChannelRef)
async def archive(ctx: SocketContext, data: ChannelRef) -> ChannelPublic:
    return await ctx.svc.channels.set_archived(ctx.principal, data.channel_id, True)


@router.event("channel:unarchive", ChannelRef)
async def unarchive(ctx: SocketContext, data: ChannelRef) -> ChannelPublic:
    return await ctx.svc.channels.set_archived(ctx.principal, data.channel_id, False)


@router.event("channel:join", ChannelRef)
async def join(ctx: SocketContext, data: ChannelRef) -> ChannelPublic:
    return await ctx.svc.channels.join(ctx.principal, data.channel_id)


@router.event("channel:leave", ChannelRef)
async def leave(ctx: SocketContext, data: ChannelRef) -> dict[str, str]:
    await ctx.svc.channels.leave(ctx.principal, data.channel_id)
    return {"channelId": data.channel_id}


@router.event("channel:members", ChannelRef)
async def members(ctx: SocketContext, data: ChannelRef) -> list[ChannelMemberPublic]:
    return await ctx.svc.channels.members(ctx.principal, data.channel_id)


@router.event("channel:addMember", ChannelMemberChange)
async def add_member(ctx: SocketContext, data: ChannelMemberChange) -> ChannelMemberPublic:
    return await ctx.svc.channels.add_member(ctx.principal, data)


@router.event("channel:removeMember", ChannelMemberChange)
async def remove_member(ctx: SocketContext, data: ChannelMemberChange) -> dict[str, str]:
    await ctx.svc.channels.remove_member(ctx.principal, data)
    return {"channelId": data.channel_id, "userId": data.user_id}


@router.event("channel:mute", ChannelMute)
async def mute(ctx: SocketContext, data: ChannelMute) -> ChannelMemberPublic:
    return await ctx.svc.channels.set_muted(ctx.principal, data)


@router.event("channel:setRole", ChannelRoleChange)
async def set_role(ctx: SocketContext, data: ChannelRoleChange) -> ChannelMemberPublic:
    return await ctx.svc.channels.set_role(ctx.principal, data)


@router.event("channel:preferences", ChannelPreferences)
async def preferences(ctx: SocketContext, data: ChannelPreferences) -> ChannelMemberPublic:
    return await ctx.svc.channels.set_preferences(ctx.principal, data)


@router.event("channel:delete", ChannelRef)
async def delete(ctx: SocketContext, data: ChannelRef) -> dict[str, str]:
    return await ctx.svc.channel_deletion.request(ctx.principal, data.channel_id)
