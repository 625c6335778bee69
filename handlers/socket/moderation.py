"""Socket.IO events for moderation records of deleted messages and members' reports."""

from __future__ import annotations

from handlers.socket.router import SocketContext, SocketRouter
from models.messages import MessageRef
from models.moderation import ModerationList, ModerationPublic, ReportIn, ReportList, ReportPublic, ReportRef

router = SocketRouter()


@router.event("moderation:get", MessageRef)
async def get(ctx: SocketContext, data: MessageRef) -> ModerationPublic:
    return await ctx.svc.moderation.get(ctx.principal, data.message_id)


@router.event("moderation:list", ModerationList)
async def recent(ctx: SocketContext, data: ModerationList) -> list[ModerationPublic]:
    return await ctx.svc.moderation.recent(ctx.principal, data)


@router.event("message:report", ReportIn)
async def report(ctx: SocketContext, data: ReportIn) -> ReportPublic:
    return await ctx.svc.moderation.report(ctx.principal, data)


@router.event("report:list", ReportList)
async def list_reports(ctx: SocketContext, data: ReportList) -> list[ReportPublic]:
    return await ctx.svc.moderation.list_reports(ctx.principal, data)


@router.event("report:resolve", ReportRef)
async def resolve(ctx: SocketContext, data: ReportRef) -> ReportPublic:
    return await ctx.svc.moderation.resolve(ctx.principal, data)
