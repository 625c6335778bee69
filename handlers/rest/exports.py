"""Admin calendar exports: events or users as JSON, CSV or ICS, written to a file by a worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import FileResponse

from connectnow import errors
from connectnow.errors import AppError
from handlers.rest.deps import CurrentPrincipal, NodeDep, ServicesDep
from models.calendar import ArchiveRequest, ExportCreate, ExportPublic
from models.calendar_events import EventPublic

router = APIRouter(prefix="/admin", tags=["admin", "calendar exports"])
ExportId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "ics": "text/calendar; charset=utf-8"}


@router.post(
    "/calendar-exports", status_code=status.HTTP_202_ACCEPTED, response_model=ExportPublic, summary="Queue an export"
)
async def create_export(body: ExportCreate, principal: CurrentPrincipal, node: NodeDep) -> ExportPublic:
    suite = node.svc.calendar
    record = await suite.exports.create(principal, body)
    for worker in suite.workers:
        worker.wake()  # start now rather than at the next poll
    return ExportPublic.model_validate(record, from_attributes=True)


@router.get("/calendar-exports", response_model=list[ExportPublic])
async def list_exports(
    principal: CurrentPrincipal, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ExportPublic]:
    return await svc.calendar.exports.list(principal, limit)


@router.get("/calendar-exports/{export_id}", response_model=ExportPublic, summary="Status, record count and file size")
async def get_export(export_id: ExportId, principal: CurrentPrincipal, svc: ServicesDep) -> ExportPublic:
    return ExportPublic.model_validate(await svc.calendar.exports.get(principal, export_id), from_attributes=True)


@router.get("/calendar-exports/{export_id}/download", summary="The export file, streamed")
async def download(export_id: ExportId, principal: CurrentPrincipal, svc: ServicesDep) -> FileResponse:
    path, record = await svc.calendar.exports.file_of(principal, export_id)
    if not path.is_file():
        raise AppError(errors.NOT_FOUND, "The export file is gone")
    name = f"{record.export_type.value}-{record.id}.{record.format.value}"
    return FileResponse(path, media_type=MEDIA[record.format.value], filename=name)


@router.delete("/calendar-users/{user_id}/data", summary="Delete a user's calendars, events, categories, locations")
async def delete_user_data(user_id: ExportId, principal: CurrentPrincipal, svc: ServicesDep) -> dict[str, int]:
    return await svc.calendar.calendars.admin_delete_user_data(principal, user_id)


@router.post("/calendar-usage/recount", summary="Rebuild category and location usage counts from the events")
async def recount(principal: CurrentPrincipal, svc: ServicesDep) -> dict[str, int]:
    return await svc.calendar.catalog.admin_recount(principal)


@router.post("/calendar-archive", summary="Move events that ended before a day into the archive")
async def archive_events(body: ArchiveRequest, principal: CurrentPrincipal, svc: ServicesDep) -> dict[str, Any]:
    return await svc.calendar.archive.archive_before(principal, body.before)


@router.get("/calendar-archive", response_model=list[EventPublic], summary="Archived events, oldest first")
async def archived_events(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    calendar_id: Annotated[str | None, Query(alias="calendarId", pattern=r"^[0-9a-f]{24}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[EventPublic]:
    return await svc.calendar.archive.list_archived(principal, calendar_id, limit, offset)
