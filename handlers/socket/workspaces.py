"""Socket.IO events for workspaces, invites and members (thin: validate, call one service, answer)."""

from __future__ import annotations

from handlers.socket.router import SocketContext, SocketRouter
from models.workspaces import (
    BanCreate,
    BanPublic,
    InviteCreate,
    InviteCreated,
    InvitePublic,
    InviteRevoke,
    JoinByCode,
    MemberPage,
    MemberPublic,
    MemberRef,
    MemberSearch,
    MemberUpdate,
    WorkspaceCreate,
    WorkspacePublic,
    WorkspaceRef,
    WorkspaceUpdate,
)

router = SocketRouter()


@router.event("workspace:create", WorkspaceCreate)
async def create(ctx: SocketContext, data: WorkspaceCreate) -> WorkspacePublic:
    return await ctx.svc.workspaces.create(ctx.principal, data)


@router.event("workspace:list")
async def list_mine(ctx: SocketContext, _: None) -> list[WorkspacePublic]:
    return await ctx.svc.workspaces.mine(ctx.principal)


@router.event("workspace:get", WorkspaceRef)
async def get(ctx: SocketContext, data: WorkspaceRef) -> WorkspacePublic:
    return await ctx.svc.workspaces.get(ctx.principal, data.workspace_id)


@router.event("workspace:update", WorkspaceUpdate)
async def update(ctx: SocketContext, data: WorkspaceUpdate) -> WorkspacePublic:
    return await ctx.svc.workspaces.update(ctx.principal, data)


@router.event("workspace:delete", WorkspaceRef)
async def delete(ctx: SocketContext, data: WorkspaceRef) -> dict[str, str]:
    await ctx.svc.workspaces.delete(ctx.principal, data.workspace_id)
    return {"workspaceId": data.workspace_id}


@router.event("workspace:join", WorkspaceRef)
async def join(ctx: SocketContext, data: WorkspaceRef) -> WorkspacePublic:
    return await ctx.svc.workspaces.join_public(ctx.principal, data.workspace_id)


@router.event("workspace:joinByCode", JoinByCode)
async def join_by_code(ctx: SocketContext, data: JoinByCode) -> WorkspacePublic:
    return await ctx.svc.workspaces.join_by_code(ctx.principal, data.code)


@router.event("workspace:leave", WorkspaceRef)
async def leave(ctx: SocketContext, data: WorkspaceRef) -> dict[str, str]:
    await ctx.svc.workspaces.leave(ctx.principal, data.workspace_id)
    return {"workspaceId": data.workspace_id}


@router.event("workspace:transfer", MemberRef)
async def transfer(ctx: SocketContext, data: MemberRef) -> WorkspacePublic:
    return await ctx.svc.workspaces.transfer(ctx.principal, data.workspace_id, data.user_id)


@router.event("invite:create", InviteCreate)
async def invite_create(ctx: SocketContext, data: InviteCreate) -> InviteCreated:
    return await ctx.svc.workspaces.create_invite(ctx.principal, data)


@router.event("invite:rotate", InviteCreate)
async def invite_rotate(ctx: SocketContext, data: InviteCreate) -> InviteCreated:
    return await ctx.svc.workspaces.rotate_invites(ctx.principal, data)


@router.event("invite:list", WorkspaceRef)
async def invite_list(ctx: SocketContext, data: WorkspaceRef) -> list[InvitePublic]:
    return await ctx.svc.workspaces.list_invites(ctx.principal, data.workspace_id)


@router.event("invite:revoke", InviteRevoke)
async def invite_revoke(ctx: SocketContext, data: InviteRevoke) -> dict[str, str]:
    await ctx.svc.workspaces.revoke_invite(ctx.principal, data.workspace_id, data.invite_id)
    return {"inviteId": data.invite_id}


@router.event("member:list", WorkspaceRef)
async def member_list(ctx: SocketContext, data: WorkspaceRef) -> list[MemberPublic]:
    return await ctx.svc.workspaces.members(ctx.principal, data.workspace_id)


@router.event("member:search", MemberSearch)
async def member_search(ctx: SocketContext, data: MemberSearch) -> MemberPage:
    return await ctx.svc.workspaces.search_members(ctx.principal, data)


@router.event("member:update", MemberUpdate)
async def member_update(ctx: SocketContext, data: MemberUpdate) -> MemberPublic:
    return await ctx.svc.workspaces.update_member(ctx.principal, data)


@router.event("member:kick", MemberRef)
async def member_kick(ctx: SocketContext, data: MemberRef) -> dict[str, str]:
    await ctx.svc.workspaces.kick(ctx.principal, data.workspace_id, data.user_id)
    return {"userId": data.user_id}


@router.event("member:ban", BanCreate)
async def member_ban(ctx: SocketContext, data: BanCreate) -> BanPublic:
    return await ctx.svc.workspaces.ban(ctx.principal, data)


@router.event("member:unban", MemberRef)
async def member_unban(ctx: SocketContext, data: MemberRef) -> dict[str, str]:
    await ctx.svc.workspaces.unban(ctx.principal, data.workspace_id, data.user_id)
    return {"userId": data.user_id}


@router.event("member:bans", WorkspaceRef)
async def member_bans(ctx: SocketContext, data: WorkspaceRef) -> list[BanPublic]:
    return await ctx.svc.workspaces.bans(ctx.principal, data.workspace_id)
