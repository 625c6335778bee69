"""Socket.IO events for moderation records of deleted messages and members' reports."""

from __future__ import annotations

from typing import Any

from handlers.socket.router import SocketContext, SocketRouter
from models.messages import MessageRef
from models.moderation import ModerationList, ReportIn, ReportList, ReportRef

router = SocketRouter()


@router.event("moderation:get", MessageRef)
async def get(ctx: SocketContext, data: MessageRef) -> Any:
    return await ctx.svc.moderation.get(ctx.principal, data.message_id)


@router.event("moderation:list", ModerationList)
async def recent(ctx: SocketContext, data: ModerationList) -> Any:
    return await ctx.svc.moderation.recent(ctx.principal, data)


@router.event("message:report", ReportIn)
async def report(ctx: SocketContext, data: ReportIn) -> Any:
    return await ctx.svc.moderation.report(ctx.principal, data)


@router.event("report:list", ReportList)
async def list_reports(ctx: SocketContext, data: ReportList) -> Any:
    return await ctx.svc.moderation.list_reports(ctx.principal, data)


@router.event("report:resolve", ReportRef)
async def resolve(ctx: SocketContext, data: ReportRef) -> Any:
    return await ctx.svc.moderation.resolve(ctx.principal, data)
