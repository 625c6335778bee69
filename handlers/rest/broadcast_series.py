"""Recurring broadcasts (issue 19): an RRULE in a time zone, occurrences sent as scheduled messages.
Documented in docs/SIDECAR-BROADCASTS.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.broadcast_series import SeriesCreate, SeriesPublic
from models.broadcasts import ScheduledPublic
from models.common import ErrorResponse

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": meaning}
    for code, meaning in (
        (404, "NOT_FOUND (not yours), GROUP_EMPTY"),
        (409, "SERIES_ENDED, SCHEDULE_QUOTA_EXCEEDED, CONTACT_OPTED_OUT, WEBHOOK_NOT_CONFIGURED"),
        (422, "BROADCAST_RECURRENCE_INVALID (details.reason), TIMEZONE_UNKNOWN, SCHEDULE_IN_PAST, "
              "SCHEDULE_BEYOND_HORIZON, VALIDATION_FAILED"),
    )
}  # fmt: skip
router = APIRouter(prefix="/broadcast-series", tags=["recurring broadcasts"], responses=ERROR_RESPONSES)
SeriesId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=SeriesPublic, summary="Start a recurring broadcast"
)
async def create_series(body: SeriesCreate, principal: CurrentPrincipal, svc: ServicesDep) -> SeriesPublic:
    return await svc.broadcasts.series.create(principal, body)


@router.get("", response_model=list[SeriesPublic], summary="My recurring broadcasts, newest first (at most 200)")
async def list_series(principal: CurrentPrincipal, svc: ServicesDep) -> list[SeriesPublic]:
    return await svc.broadcasts.series.list_all(principal)


@router.get("/{series_id}", response_model=SeriesPublic, summary="One, with its next occurrence")
async def get_series(series_id: SeriesId, principal: CurrentPrincipal, svc: ServicesDep) -> SeriesPublic:
    return await svc.broadcasts.series.get(principal, series_id)


@router.get("/{series_id}/occurrences", response_model=list[ScheduledPublic], summary="The scheduled messages it made")
async def occurrences(series_id: SeriesId, principal: CurrentPrincipal, svc: ServicesDep) -> list[ScheduledPublic]:
    return await svc.broadcasts.series.occurrences_of(principal, series_id)


@router.post("/{series_id}/pause", response_model=SeriesPublic, summary="Pause: pending occurrences are cancelled")
async def pause(series_id: SeriesId, principal: CurrentPrincipal, svc: ServicesDep) -> SeriesPublic:
    return await svc.broadcasts.series.pause(principal, series_id)


@router.post("/{series_id}/resume", response_model=SeriesPublic, summary="Resume with the next occurrence from now")
async def resume(series_id: SeriesId, principal: CurrentPrincipal, svc: ServicesDep) -> SeriesPublic:
    return await svc.broadcasts.series.resume(principal, series_id)


@router.post("/{series_id}/end", response_model=SeriesPublic, summary="End for good (pending occurrences cancelled)")
async def end(series_id: SeriesId, principal: CurrentPrincipal, svc: ServicesDep) -> SeriesPublic:
    return await svc.broadcasts.series.end(principal, series_id)
