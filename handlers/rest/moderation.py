"""REST mirrors for moderation records and reports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from handlers.rest.workspaces import JsonBody, with_path
from models.base import IdStr
from models.moderation import ModerationList, ModerationPublic, ReportIn, ReportList, ReportPublic, ReportRef

router = APIRouter(tags=["moderation"])
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/messages/{message_id}/moderation", response_model=ModerationPublic)
async def get(message_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> ModerationPublic:
    return await svc.moderation.get(principal, message_id)


@router.get("/workspaces/{workspace_id}/moderation", response_model=list[ModerationPublic])
async def recent(
    workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, limit: Limit = 50
) -> list[ModerationPublic]:
    query = ModerationList.model_validate({"workspaceId": workspace_id, "limit": limit})
    return await svc.moderation.recent(principal, query)


@router.post("/messages/{message_id}/reports", status_code=status.HTTP_201_CREATED, response_model=ReportPublic)
async def report(message_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> ReportPublic:
    return await svc.moderation.report(principal, with_path(ReportIn, body, messageId=message_id))


@router.get("/workspaces/{workspace_id}/reports", response_model=list[ReportPublic])
async def list_reports(
    workspace_id: IdStr,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    status_: Annotated[Literal["open", "resolved"], Query(alias="status")] = "open",
    limit: Limit = 50,
) -> list[ReportPublic]:
    query = ReportList.model_validate({"workspaceId": workspace_id, "status": status_, "limit": limit})
    return await svc.moderation.list_reports(principal, query)


@router.post("/reports/{report_id}/resolve", response_model=ReportPublic)
async def resolve(report_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> ReportPublic:
    return await svc.moderation.resolve(principal, ReportRef.model_validate({"reportId": report_id}))
