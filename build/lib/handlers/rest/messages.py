"""REST mirrors for messages, reactions, threads, pins, search and read state (bots use these)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from connectnow.clock import new_id
from handlers.rest.deps import CurrentPrincipal, ServicesDep
from handlers.rest.workspaces import JsonBody, with_path
from models.base import IdStr
from models.messages import (
    HistoryQuery,
    MarkRead,
    MessageEdit,
    MessagePost,
    MessagePublic,
    MessageSend,
    ReactionIn,
    ReactionSummary,
    ReadReceipt,
    SearchQuery,
    ThreadQuery,
    UnreadCount,
)

router = APIRouter(tags=["messages"])
Cursor = Annotated[int | None, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/channels/{channel_id}/messages", status_code=status.HTTP_201_CREATED, response_model=MessagePublic)
async def post(
    channel_id: IdStr, body: MessagePost, principal: CurrentPrincipal, svc: ServicesDep, response: Response
) -> MessagePublic:
    data = MessageSend.model_validate(
        {
            **body.model_dump(by_alias=True, exclude_none=True),
            "channelId": channel_id,
            # Without a clientMsgId a request cannot be replayed safely; give it a fresh one.
            "clientMsgId": body.client_msg_id or f"api-{new_id()}",
        }
    )
    message, created = await svc.messages.send(principal, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return message


@router.get("/channels/{channel_id}/messages", response_model=list[MessagePublic])
async def history(
    channel_id: IdStr,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    before: Cursor = None,
    after: Cursor = None,
    around: Cursor = None,
    limit: Limit = 50,
) -> list[MessagePublic]:
    query = HistoryQuery(channelId=channel_id, before=before, after=after, around=around, limit=limit)
    return await svc.messages.history(principal, query)


@router.get("/channels/{channel_id}/pins", response_model=list[MessagePublic])
async def pins(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[MessagePublic]:
    return await svc.messages.pins(principal, channel_id)


@router.post("/channels/{channel_id}/read", response_model=ReadReceipt, summary="Mark read up to a message")
async def mark_read(channel_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> ReadReceipt:
    return await svc.read_state.mark_read(principal, with_path(MarkRead, body, channelId=channel_id))


@router.get("/workspaces/{workspace_id}/unread", response_model=list[UnreadCount])
async def unread(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[UnreadCount]:
    return await svc.read_state.unread(principal, workspace_id)


@router.get("/workspaces/{workspace_id}/search", response_model=list[MessagePublic])
async def search(
    workspace_id: IdStr,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    channel_id: Annotated[IdStr | None, Query(alias="channelId")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[MessagePublic]:
    query = with_path(SearchQuery, {"query": q, "limit": limit}, workspaceId=workspace_id, **_opt(channel_id))
    return await svc.search.search(principal, query)


def _opt(channel_id: str | None) -> dict[str, str]:
    return {"channelId": channel_id} if channel_id else {}


@router.get("/messages/{message_id}", response_model=MessagePublic)
async def get(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> MessagePublic:
    return await svc.messages.get(principal, message_id)


@router.patch("/messages/{message_id}", response_model=MessagePublic, summary="Edit (needs the current version)")
async def edit(message_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> MessagePublic:
    return await svc.messages.edit(principal, with_path(MessageEdit, body, messageId=message_id))


@router.delete("/messages/{message_id}", response_model=MessagePublic, summary="Soft delete (tombstone)")
async def delete(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> MessagePublic:
    return await svc.messages.delete(principal, message_id)


@router.put("/messages/{message_id}/pin", response_model=MessagePublic)
async def pin(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> MessagePublic:
    return await svc.messages.set_pinned(principal, message_id, True)


@router.delete("/messages/{message_id}/pin", response_model=MessagePublic)
async def unpin(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> MessagePublic:
    return await svc.messages.set_pinned(principal, message_id, False)


@router.get("/messages/{message_id}/replies", response_model=list[MessagePublic])
async def replies(
    message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, after: Cursor = None, limit: Limit = 50
) -> list[MessagePublic]:
    return await svc.messages.thread(principal, ThreadQuery(messageId=message_id, after=after, limit=limit))


@router.get("/messages/{message_id}/receipts", response_model=list[ReadReceipt])
async def receipts(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[ReadReceipt]:
    return await svc.read_state.receipts(principal, message_id)


@router.get("/messages/{message_id}/reactions", response_model=list[ReactionSummary])
async def reactions(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[ReactionSummary]:
    return await svc.reactions.summary(principal, message_id)


@router.post("/messages/{message_id}/reactions", response_model=list[ReactionSummary])
async def react(
    message_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep
) -> list[ReactionSummary]:
    return await svc.reactions.add(principal, with_path(ReactionIn, body, messageId=message_id))


@router.delete("/messages/{message_id}/reactions/{emoji}", response_model=list[ReactionSummary])
async def unreact(
    message_id: IdStr, emoji: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, svc: ServicesDep
) -> list[ReactionSummary]:
    return await svc.reactions.remove(principal, with_path(ReactionIn, {"emoji": emoji}, messageId=message_id))
