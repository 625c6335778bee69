"""Socket.IO events for VOICE channels: the participant list and WebRTC signalling."""

from __future__ import annotations

from typing import Any

from handlers.socket.router import SocketContext, SocketRouter
from models.messages import ChannelRef
from models.voice import VoiceCandidate, VoiceDescription, VoiceJoin, VoiceMute

router = SocketRouter()


@router.event("voice:join", VoiceJoin)
async def join(ctx: SocketContext, data: VoiceJoin) -> dict[str, Any]:
    return await ctx.svc.voice.join(ctx.sid, ctx.principal, data)


@router.event("voice:leave", ChannelRef)
async def leave(ctx: SocketContext, data: ChannelRef) -> dict[str, Any]:
    return await ctx.svc.voice.leave(ctx.sid, ctx.principal, data.channel_id)


@router.event("voice:mute", VoiceMute)
async def mute(ctx: SocketContext, data: VoiceMute) -> dict[str, Any]:
    return await ctx.svc.voice.mute(ctx.sid, ctx.principal, data)


@router.event("voice:participants", ChannelRef)
async def participants(ctx: SocketContext, data: ChannelRef) -> dict[str, Any]:
    return await ctx.svc.voice.participants(ctx.principal, data.channel_id)


@router.event("voice:offer", VoiceDescription)
async def offer(ctx: SocketContext, data: VoiceDescription) -> dict[str, bool]:
    await ctx.svc.voice.relay(ctx.sid, ctx.principal, "voice:offer", data)
    return {"relayed": True}


@router.event("voice:answer", VoiceDescription)
async def answer(ctx: SocketContext, data: VoiceDescription) -> dict[str, bool]:
    await ctx.svc.voice.relay(ctx.sid, ctx.principal, "voice:answer", data)
    return {"relayed": True}


@router.event("voice:candidate", VoiceCandidate)
async def candidate(ctx: SocketContext, data: VoiceCandidate) -> dict[str, bool]:
    await ctx.svc.voice.relay(ctx.sid, ctx.principal, "voice:candidate", data)
    return {"relayed": True}
