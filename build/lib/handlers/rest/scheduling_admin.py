"""Scheduling sidecar, administrators only: calendar connections, system settings, global AI
configuration, worker jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from connectnow.services.scheduling.access import require_admin
from handlers.rest.bookings import ERROR_RESPONSES, ActorDep, SchedulingDep
from models.scheduling_forms import AiConfigPublic, AiConfigUpdate
from models.scheduling_ops import (
    CalendarConnectionCreate,
    CalendarConnectionPublic,
    JobPublic,
    JobStatus,
    SystemSettingPublic,
    SystemSettingUpdate,
)

router = APIRouter(prefix="/admin/scheduling", tags=["admin", "scheduling"], responses=ERROR_RESPONSES)
SettingKeyPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


@router.post("/calendar-connections", status_code=status.HTTP_201_CREATED, response_model=CalendarConnectionPublic)
async def add_connection(
    body: CalendarConnectionCreate, actor: ActorDep, sch: SchedulingDep
) -> CalendarConnectionPublic:
    """Store a provider connection; the tokens are encrypted and never returned."""
    return await sch.admin.add_connection(actor, body)


@router.get("/calendar-connections", response_model=list[CalendarConnectionPublic])
async def list_connections(
    actor: ActorDep, sch: SchedulingDep, user_id: Annotated[str | None, Query(alias="userId", max_length=64)] = None
) -> list[CalendarConnectionPublic]:
    return await sch.admin.list_connections(actor, user_id)


@router.delete("/calendar-connections/{conn_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connection(conn_id: str, actor: ActorDep, sch: SchedulingDep) -> Response:
    await sch.admin.delete_connection(actor, conn_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/settings", response_model=list[SystemSettingPublic])
async def list_settings(actor: ActorDep, sch: SchedulingDep) -> list[SystemSettingPublic]:
    return await sch.admin.list_settings(actor)


@router.get("/settings/{key}", response_model=SystemSettingPublic)
async def get_setting(key: SettingKeyPath, actor: ActorDep, sch: SchedulingDep) -> SystemSettingPublic:
    return await sch.admin.get_setting(actor, key)


@router.put("/settings/{key}", response_model=SystemSettingPublic)
async def put_setting(
    key: SettingKeyPath, body: SystemSettingUpdate, actor: ActorDep, sch: SchedulingDep
) -> SystemSettingPublic:
    """Set a value; with isEncrypted it is stored as AES-GCM ciphertext."""
    return await sch.admin.put_setting(actor, key, body)


@router.get("/ai-config", response_model=AiConfigPublic)
async def get_global_ai_config(actor: ActorDep, sch: SchedulingDep) -> AiConfigPublic:
    return await sch.summaries.get_config(actor, global_scope=True)


@router.put("/ai-config", response_model=AiConfigPublic)
async def put_global_ai_config(body: AiConfigUpdate, actor: ActorDep, sch: SchedulingDep) -> AiConfigPublic:
    """The configuration for users without their own (retentionDays included)."""
    return await sch.summaries.put_config(actor, body, global_scope=True)


@router.get("/jobs", response_model=list[JobPublic])
async def list_jobs(
    actor: ActorDep,
    sch: SchedulingDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JobPublic]:
    require_admin(actor)
    return await sch.jobs.list_recent(status_, limit)
