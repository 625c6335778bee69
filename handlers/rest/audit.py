"""Scheduling sidecar: the audit log, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from handlers.rest.bookings import ERROR_RESPONSES, ActorDep, SchedulingDep
from models.bounds import INT64_MAX
from models.dates import ClientDateTime
from models.scheduling_ops import AuditPublic, AuditQuery

router = APIRouter(prefix="/admin/audit-logs", tags=["admin", "scheduling"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[AuditPublic])
async def list_audit_logs(
    actor: ActorDep,
    sch: SchedulingDep,
    user_id: Annotated[str | None, Query(alias="userId", max_length=64)] = None,
    booking_id: Annotated[str | None, Query(alias="bookingId", max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    resource: Annotated[str | None, Query(max_length=100)] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId", max_length=255)] = None,
    since: Annotated[ClientDateTime | None, Query(alias="from")] = None,
    until: Annotated[ClientDateTime | None, Query(alias="to")] = None,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AuditPublic]:
    """Who read or changed which booking, form response or summary, newest first."""
    query = AuditQuery(
        user_id=user_id,
        booking_id=booking_id,
        action=action,
        resource=resource,
        resource_id=resource_id,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    return await sch.audit.list(actor, query)
