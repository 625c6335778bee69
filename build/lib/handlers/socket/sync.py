"""`sync`: what a reconnecting client missed, per conversation, from the database."""

from __future__ import annotations

from handlers.socket.router import SocketContext, SocketRouter
from models.sync import SyncRequest, SyncResult

router = SocketRouter()


@router.event("sync", SyncRequest)
async def sync(ctx: SocketContext, data: SyncRequest) -> list[SyncResult]:
    return await ctx.svc.sync.sync(ctx.principal, data)
