"""The operators' dashboard over Socket.IO (docs/PROTOCOL.md, "Operators"): administrators only, every event."""

from __future__ import annotations

from typing import Any

from handlers.socket.router import SocketContext, SocketRouter
from models.auth import SessionPublic
from models.base import IdStr, InputModel
from models.dashboard import MembersPage, MembersQuery, OperatorAction, OperatorAuditEntry

router = SocketRouter()


class UserRef(InputModel):
    user_id: IdStr


@router.event("dashboard:subscribe")
async def subscribe(ctx: SocketContext, _: None) -> dict[str, Any]:
    return await ctx.svc.dashboard.subscribe(ctx.principal, ctx.sid)


@router.event("dashboard:members", MembersQuery)
async def members(ctx: SocketContext, query: MembersQuery) -> MembersPage:
    return await ctx.svc.dashboard.members_page(ctx.principal, query)


@router.event("dashboard:sessions", UserRef)
async def sessions(ctx: SocketContext, ref: UserRef) -> list[SessionPublic]:
    return await ctx.svc.operators.sessions(ctx.principal, ref.user_id)


@router.event("dashboard:action", OperatorAction)
async def act(ctx: SocketContext, action: OperatorAction) -> OperatorAuditEntry:
    return await ctx.svc.operators.act(ctx.principal, action)


@router.event("dashboard:audit")
async def audit(ctx: SocketContext, _: None) -> list[OperatorAuditEntry]:
    return await ctx.svc.operators.audit(ctx.principal)
