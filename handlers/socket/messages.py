"""Socket.IO events for channel messages, reactions, threads, search and read state."""

from __future__ import annotations

from typing import TypedDict

from handlers.socket.router import SocketContext, SocketRouter
from models.base import Wire
from models.messages import (
    ChannelRef,
    HistoryQuery,
    MarkRead,
    MessageEdit,
    MessagePublic,
    MessageRef,
    MessageSend,
    ReactionIn,
    ReactionSummary,
    ReadReceipt,
    SearchQuery,
    ThreadQuery,
    UnreadCount,
)
from models.workspaces import WorkspaceRef

router = SocketRouter()


class MessageSent(TypedDict):
    message: Wire  # MessagePublic in wire form, built once and shared with the broadcast event
    duplicate: bool  # a replayed clientMsgId: the message stored the first time


@router.event("message:send", MessageSend)
async def send(ctx: SocketContext, data: MessageSend) -> MessageSent:
    message, created = await ctx.svc.messages.send_wire(ctx.principal, data)
    return {"message": message, "duplicate": not created}


@router.event("message:edit", MessageEdit)
async def edit(ctx: SocketContext, data: MessageEdit) -> MessagePublic:
    return await ctx.svc.messages.edit(ctx.principal, data)


@router.event("message:delete", MessageRef)
async def delete(ctx: SocketContext, data: MessageRef) -> MessagePublic:
    return await ctx.svc.messages.delete(ctx.principal, data.message_id)


@router.event("message:pin", MessageRef)
async def pin(ctx: SocketContext, data: MessageRef) -> MessagePublic:
    return await ctx.svc.messages.set_pinned(ctx.principal, data.message_id, True)


@router.event("message:unpin", MessageRef)
async def unpin(ctx: SocketContext, data: MessageRef) -> MessagePublic:
    return await ctx.svc.messages.set_pinned(ctx.principal, data.message_id, False)


@router.event("message:get", MessageRef)
async def get(ctx: SocketContext, data: MessageRef) -> MessagePublic:
    return await ctx.svc.messages.get(ctx.principal, data.message_id)


@router.event("message:history", HistoryQuery)
async def history(ctx: SocketContext, data: HistoryQuery) -> list[MessagePublic]:
    return await ctx.svc.messages.history(ctx.principal, data)


@router.event("message:pins", ChannelRef)
async def pins(ctx: SocketContext, data: ChannelRef) -> list[MessagePublic]:
    return await ctx.svc.messages.pins(ctx.principal, data.channel_id)


@router.event("message:thread", ThreadQuery)
async def thread(ctx: SocketContext, data: ThreadQuery) -> list[MessagePublic]:
    return await ctx.svc.messages.thread(ctx.principal, data)


@router.event("message:search", SearchQuery)
async def search(ctx: SocketContext, data: SearchQuery) -> list[MessagePublic]:
    return await ctx.svc.search.search(ctx.principal, data)


@router.event("message:receipts", MessageRef)
async def receipts(ctx: SocketContext, data: MessageRef) -> list[ReadReceipt]:
    return await ctx.svc.read_state.receipts(ctx.principal, data.message_id)


@router.event("reaction:add", ReactionIn)
async def react(ctx: SocketContext, data: ReactionIn) -> list[ReactionSummary]:
    return await ctx.svc.reactions.add(ctx.principal, data)


@router.event("reaction:remove", ReactionIn)
async def unreact(ctx: SocketContext, data: ReactionIn) -> list[ReactionSummary]:
    return await ctx.svc.reactions.remove(ctx.principal, data)


@router.event("reaction:list", MessageRef)
async def reactions(ctx: SocketContext, data: MessageRef) -> list[ReactionSummary]:
    return await ctx.svc.reactions.summary(ctx.principal, data.message_id)


@router.event("channel:markRead", MarkRead)
async def mark_read(ctx: SocketContext, data: MarkRead) -> ReadReceipt:
    return await ctx.svc.read_state.mark_read(ctx.principal, data)


@router.event("channel:unread", WorkspaceRef)
async def unread(ctx: SocketContext, data: WorkspaceRef) -> list[UnreadCount]:
    return await ctx.svc.read_state.unread(ctx.principal, data.workspace_id)
