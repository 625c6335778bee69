"""Paging through a gap that `sync` did not recover (its `cursor` points here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.sync import ConversationKind, SyncPage

router = APIRouter(prefix="/sync", tags=["sync"])


@router.get("/{kind}/{conversation_id}", response_model=SyncPage)
async def changes(
    kind: ConversationKind,
    conversation_id: Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")],
    principal: CurrentPrincipal,
    svc: ServicesDep,
    after_event_seq: Annotated[int, Query(alias="afterEventSeq", ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> SyncPage:
    return await svc.sync.page(principal, kind, conversation_id, after_event_seq, limit)
