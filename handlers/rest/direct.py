"""REST mirrors for direct conversations and messages (bots and integrations use these)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from handlers.rest.workspaces import JsonBody, with_path
from models.base import IdStr
from models.bounds import INT64_MAX
from models.dates import ClientDateTime
from models.direct import (
    DirectConversationPublic,
    DirectEdit,
    DirectHistory,
    DirectList,
    DirectMarkRead,
    DirectMessagePublic,
    DirectOpen,
    DirectPatch,
    DirectPost,
    DirectReadBody,
    UserBlockPublic,
)
from models.messages import ReactionIn, ReactionSummary, ThreadQuery

router = APIRouter(prefix="/direct", tags=["direct messages"])
Cursor = Annotated[int | None, Query(ge=0, le=INT64_MAX)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/conversations", response_model=DirectConversationPublic, summary="Find or create the conversation")
async def open_conversation(
    body: DirectOpen, principal: CurrentPrincipal, svc: ServicesDep
) -> DirectConversationPublic:
    return await svc.direct.open(principal, body.user_id, user_request=True)


@router.get("/conversations", response_model=list[DirectConversationPublic], summary="Mine, latest message first")
async def list_conversations(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    limit: Limit = 50,
    before: ClientDateTime | None = None,
    before_id: Annotated[IdStr | None, Query(alias="beforeId")] = None,
) -> list[DirectConversationPublic]:
    query = DirectList(limit=limit, before=before, beforeId=before_id)
    return await svc.direct.list_conversations(principal, query)


@router.get("/conversations/{conversation_id}", response_model=DirectConversationPublic)
async def get_conversation(
    conversation_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep
) -> DirectConversationPublic:
    return await svc.direct.get(principal, conversation_id)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=DirectMessagePublic,
    summary="Send; a replayed clientMsgId answers 200 with the original",
)
async def post_message(
    conversation_id: IdStr, body: DirectPost, principal: CurrentPrincipal, svc: ServicesDep, response: Response
) -> DirectMessagePublic:
    message, created = await svc.direct.post(principal, conversation_id, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return message


@router.get("/conversations/{conversation_id}/messages", response_model=list[DirectMessagePublic])
async def history(
    conversation_id: IdStr,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    before: Cursor = None,
    after: Cursor = None,
    around: Cursor = None,
    limit: Limit = 50,
) -> list[DirectMessagePublic]:
    query = DirectHistory(conversationId=conversation_id, before=before, after=after, around=around, limit=limit)
    return await svc.direct.history(principal, query)


@router.post(
    "/conversations/{conversation_id}/read",
    response_model=DirectConversationPublic,
    summary="Mark the other member's messages read (up to messageId, or all)",
)
async def mark_read(
    conversation_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, body: DirectReadBody | None = None
) -> DirectConversationPublic:
    message_id = body.message_id if body else None
    data = DirectMarkRead(conversationId=conversation_id, messageId=message_id)
    return await svc.direct.mark_read(principal, data)


@router.patch("/messages/{message_id}", response_model=DirectMessagePublic, summary="Edit (needs the current version)")
async def edit_message(
    message_id: IdStr, body: DirectPatch, principal: CurrentPrincipal, svc: ServicesDep
) -> DirectMessagePublic:
    data = DirectEdit(messageId=message_id, content=body.content, version=body.version)
    return await svc.direct.edit(principal, data)


@router.delete("/messages/{message_id}", response_model=DirectMessagePublic, summary="Soft delete (a tombstone)")
async def delete_message(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> DirectMessagePublic:
    return await svc.direct.delete(principal, message_id)


@router.get("/blocks", response_model=list[UserBlockPublic], summary="The users I blocked")
async def blocks(principal: CurrentPrincipal, svc: ServicesDep) -> list[UserBlockPublic]:
    return await svc.direct.blocks(principal)


@router.put("/blocks/{user_id}", response_model=UserBlockPublic, summary="Block a user (no new DMs either way)")
async def block(user_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> UserBlockPublic:
    return await svc.direct.block(principal, user_id)


@router.delete("/blocks/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Unblock a user")
async def unblock(user_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.direct.unblock(principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/messages/{message_id}/reactions", response_model=list[ReactionSummary])
async def reactions(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[ReactionSummary]:
    return await svc.direct_extras.summary(principal, message_id)


@router.post("/messages/{message_id}/reactions", response_model=list[ReactionSummary])
async def react(
    message_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep
) -> list[ReactionSummary]:
    return await svc.direct_extras.react(principal, with_path(ReactionIn, body, messageId=message_id), add=True)


@router.delete("/messages/{message_id}/reactions/{emoji}", response_model=list[ReactionSummary])
async def unreact(
    message_id: IdStr, emoji: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, svc: ServicesDep
) -> list[ReactionSummary]:
    data = with_path(ReactionIn, {"emoji": emoji}, messageId=message_id)
    return await svc.direct_extras.react(principal, data, add=False)


@router.put("/messages/{message_id}/pin", response_model=DirectMessagePublic)
async def pin(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> DirectMessagePublic:
    return await svc.direct_extras.set_pinned(principal, message_id, True)


@router.delete("/messages/{message_id}/pin", response_model=DirectMessagePublic)
async def unpin(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> DirectMessagePublic:
    return await svc.direct_extras.set_pinned(principal, message_id, False)


@router.get("/conversations/{conversation_id}/pins", response_model=list[DirectMessagePublic])
async def pins(conversation_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[DirectMessagePublic]:
    return await svc.direct_extras.pins(principal, conversation_id)


@router.get("/messages/{message_id}/replies", response_model=list[DirectMessagePublic], summary="Thread replies")
async def replies(
    message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, after: Cursor = None, limit: Limit = 50
) -> list[DirectMessagePublic]:
    query = ThreadQuery.model_validate({"messageId": message_id, "after": after, "limit": limit})
    return await svc.direct.thread(principal, query)
