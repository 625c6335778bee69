"""Socket.IO events for typing indicators in channels and direct conversations."""

from __future__ import annotations

from handlers.socket.router import SocketContext, SocketRouter
from models.direct import TypingIn

router = SocketRouter()


@router.event("typing:start", TypingIn)
async def start(ctx: SocketContext, data: TypingIn) -> dict[str, float]:
    return await ctx.svc.typing.start_typing(ctx.principal, data)


@router.event("typing:stop", TypingIn)
async def stop(ctx: SocketContext, data: TypingIn) -> dict[str, bool]:
    return await ctx.svc.typing.stop_typing(ctx.principal, data)
