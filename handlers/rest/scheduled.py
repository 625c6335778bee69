"""Scheduled messages, their deliveries, and the caller's delivery webhook. Documented in
docs/SIDECAR-BROADCASTS.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.base import IdStr
from models.broadcasts import (
    DeliveryPublic,
    ScheduledCreate,
    ScheduledPage,
    ScheduledPublic,
    ScheduledUpdate,
    ScheduleStatus,
    TargetKind,
    WebhookPublic,
    WebhookSet,
)
from models.contacts import InboundReply, InboundResult
from models.dates import ClientDateTime

router = APIRouter(tags=["scheduled messages"])


@router.post("/scheduled", status_code=status.HTTP_201_CREATED, response_model=ScheduledPublic)
async def schedule(body: ScheduledCreate, principal: CurrentPrincipal, svc: ServicesDep) -> ScheduledPublic:
    return await svc.broadcasts.schedule.create(principal, body)


@router.get("/scheduled", response_model=ScheduledPage)
async def list_scheduled(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    status_: Annotated[ScheduleStatus | None, Query(alias="status")] = None,
    start: Annotated[ClientDateTime | None, Query(alias="from")] = None,
    end: Annotated[ClientDateTime | None, Query(alias="to")] = None,
    target_kind: Annotated[TargetKind | None, Query(alias="targetKind")] = None,
    target_id: Annotated[IdStr | None, Query(alias="targetId")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ScheduledPage:
    return await svc.broadcasts.schedule.list_scheduled(
        principal,
        status=status_,
        start=start,
        end=end,
        target_kind=target_kind,
        target_id=target_id,
        limit=limit,
        offset=offset,
    )


@router.get("/scheduled/{scheduled_id}", response_model=ScheduledPublic)
async def get_scheduled(scheduled_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> ScheduledPublic:
    return await svc.broadcasts.schedule.get(principal, scheduled_id)


@router.patch("/scheduled/{scheduled_id}", response_model=ScheduledPublic)
async def edit_scheduled(
    scheduled_id: str, body: ScheduledUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> ScheduledPublic:
    return await svc.broadcasts.schedule.update(principal, scheduled_id, body)


@router.post("/scheduled/{scheduled_id}/cancel", response_model=ScheduledPublic)
async def cancel_scheduled(scheduled_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> ScheduledPublic:
    return await svc.broadcasts.schedule.cancel(principal, scheduled_id)


@router.get("/scheduled/{scheduled_id}/deliveries", response_model=list[DeliveryPublic])
async def deliveries(scheduled_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[DeliveryPublic]:
    return await svc.broadcasts.schedule.deliveries_of(principal, scheduled_id)


@router.put("/broadcasts/webhook", response_model=WebhookPublic)
async def set_webhook(body: WebhookSet, principal: CurrentPrincipal, svc: ServicesDep) -> WebhookPublic:
    return await svc.broadcasts.webhooks.set(principal, body)


@router.get("/broadcasts/webhook", response_model=WebhookPublic)
async def get_webhook(principal: CurrentPrincipal, svc: ServicesDep) -> WebhookPublic:
    return await svc.broadcasts.webhooks.get(principal)


@router.delete("/broadcasts/webhook", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.broadcasts.webhooks.delete(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/broadcasts/inbound/{user_id}",
    response_model=InboundResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": InboundReply.model_json_schema(by_alias=True)}},
        },
        "parameters": [
            {
                "name": "X-ConnectNow-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(the user's webhook secret, '<t>.' + body)>",
            }
        ],
    },
)
async def inbound_reply(user_id: Annotated[IdStr, Path()], request: Request, svc: ServicesDep) -> InboundResult:
    """A contact's reply relayed by the user's gateway: STOP (and its synonyms) opts the contact out, START
    opts them back in, anything else is ignored. No login: the call is signed with the webhook secret."""
    body = await request.body()
    return await svc.broadcasts.consent.inbound(user_id, request.headers.get("X-ConnectNow-Signature"), body)
