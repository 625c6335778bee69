"""`dashboard:subscribe`: administrators receive live numbers (docs/PROTOCOL.md, "Operators")."""

from __future__ import annotations

from typing import Any

from handlers.socket.router import SocketContext, SocketRouter

router = SocketRouter()


@router.event("dashboard:subscribe")
async def subscribe(ctx: SocketContext, _: None) -> dict[str, Any]:
    return await ctx.svc.dashboard.subscribe(ctx.principal, ctx.sid)
