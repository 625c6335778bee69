"""Socket.IO events for direct conversations and direct messages."""

from __future__ import annotations

from typing import Any, TypedDict

from handlers.socket.router import SocketContext, SocketRouter
from models.direct import (
    DirectConversationPublic,
    DirectConversationRef,
    DirectEdit,
    DirectHistory,
    DirectList,
    DirectMarkRead,
    DirectMessagePublic,
    DirectMessageRef,
    DirectOpen,
    DirectSend,
    UserBlockPublic,
)
from models.messages import ReactionIn, ReactionSummary, ThreadQuery

router = SocketRouter()


class DirectSent(TypedDict):
    message: DirectMessagePublic
    duplicate: bool  # a replayed clientMsgId: the message stored the first time


@router.event("dm:open", DirectOpen)
async def open_conversation(ctx: SocketContext, data: DirectOpen) -> DirectConversationPublic:
    return await ctx.svc.direct.open(ctx.principal, data.user_id, user_request=True)


@router.event("dm:list", DirectList)
async def list_conversations(ctx: SocketContext, data: DirectList) -> list[DirectConversationPublic]:
    return await ctx.svc.direct.list_conversations(ctx.principal, data)


@router.event("dm:get", DirectConversationRef)
async def get_conversation(ctx: SocketContext, data: DirectConversationRef) -> DirectConversationPublic:
    return await ctx.svc.direct.get(ctx.principal, data.conversation_id)


@router.event("dm:send", DirectSend)
async def send(ctx: SocketContext, data: DirectSend) -> DirectSent:
    message, created = await ctx.svc.direct.send(ctx.principal, data, user_request=True)
    return {"message": message, "duplicate": not created}


@router.event("dm:edit", DirectEdit)
async def edit(ctx: SocketContext, data: DirectEdit) -> DirectMessagePublic:
    return await ctx.svc.direct.edit(ctx.principal, data)


@router.event("dm:delete", DirectMessageRef)
async def delete(ctx: SocketContext, data: DirectMessageRef) -> DirectMessagePublic:
    return await ctx.svc.direct.delete(ctx.principal, data.message_id)


@router.event("dm:history", DirectHistory)
async def history(ctx: SocketContext, data: DirectHistory) -> list[DirectMessagePublic]:
    return await ctx.svc.direct.history(ctx.principal, data)


@router.event("dm:markRead", DirectMarkRead)
async def mark_read(ctx: SocketContext, data: DirectMarkRead) -> DirectConversationPublic:
    return await ctx.svc.direct.mark_read(ctx.principal, data)


@router.event("dm:block", DirectOpen)
async def block(ctx: SocketContext, data: DirectOpen) -> UserBlockPublic:
    return await ctx.svc.direct.block(ctx.principal, data.user_id)


@router.event("dm:unblock", DirectOpen)
async def unblock(ctx: SocketContext, data: DirectOpen) -> dict[str, str]:
    await ctx.svc.direct.unblock(ctx.principal, data.user_id)
    return {"userId": data.user_id}


@router.event("dm:blocks")
async def blocks(ctx: SocketContext, data: Any) -> list[UserBlockPublic]:
    return await ctx.svc.direct.blocks(ctx.principal)


@router.event("dm:reaction:add", ReactionIn)
async def react(ctx: SocketContext, data: ReactionIn) -> list[ReactionSummary]:
    return await ctx.svc.direct_extras.react(ctx.principal, data, add=True)


@router.event("dm:reaction:remove", ReactionIn)
async def unreact(ctx: SocketContext, data: ReactionIn) -> list[ReactionSummary]:
    return await ctx.svc.direct_extras.react(ctx.principal, data, add=False)


@router.event("dm:reaction:list", DirectMessageRef)
async def reactions(ctx: SocketContext, data: DirectMessageRef) -> list[ReactionSummary]:
    return await ctx.svc.direct_extras.summary(ctx.principal, data.message_id)


@router.event("dm:pin", DirectMessageRef)
async def pin(ctx: SocketContext, data: DirectMessageRef) -> DirectMessagePublic:
    return await ctx.svc.direct_extras.set_pinned(ctx.principal, data.message_id, True)


@router.event("dm:unpin", DirectMessageRef)
async def unpin(ctx: SocketContext, data: DirectMessageRef) -> DirectMessagePublic:
    return await ctx.svc.direct_extras.set_pinned(ctx.principal, data.message_id, False)


@router.event("dm:pins", DirectConversationRef)
async def pins(ctx: SocketContext, data: DirectConversationRef) -> list[DirectMessagePublic]:
    return await ctx.svc.direct_extras.pins(ctx.principal, data.conversation_id)


@router.event("dm:thread", ThreadQuery)
async def thread(ctx: SocketContext, data: ThreadQuery) -> list[DirectMessagePublic]:
    return await ctx.svc.direct.thread(ctx.principal, data)
