"""Presence events: choose a status, ask for others' presence. Changes arrive as `presence:changed`."""

from __future__ import annotations

from handlers.socket.router import SocketContext, SocketRouter
from models.presence import PresencePublic, PresenceQuery, PresenceSet

router = SocketRouter()


@router.event("presence:set", PresenceSet)
async def set_status(ctx: SocketContext, data: PresenceSet) -> PresencePublic:
    return await ctx.svc.presence.set_status(ctx.principal.user_id, data)


@router.event("presence:query", PresenceQuery)
async def query(ctx: SocketContext, data: PresenceQuery) -> list[PresencePublic]:
    return await ctx.svc.presence.query(ctx.principal.user_id, data)
