"""Calendars: CRUD, the secret ICS feed URL, sync logs. Owner-only: others' calendars are 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar import CalendarCreate, CalendarPublic, CalendarUpdate, FeedToken, ShareSet, SyncLogPublic

router = APIRouter(prefix="/calendars", tags=["calendars"])
CalendarId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
UserId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CalendarPublic)
async def create_calendar(body: CalendarCreate, principal: CurrentPrincipal, svc: ServicesDep) -> CalendarPublic:
    return await svc.calendar.calendars.create(principal, body)


@router.get("", response_model=list[CalendarPublic])
async def list_calendars(principal: CurrentPrincipal, svc: ServicesDep) -> list[CalendarPublic]:
    return await svc.calendar.calendars.list(principal)


@router.get("/shared", response_model=list[CalendarPublic], summary="Calendars other users share with me (myRole)")
async def shared_with_me(principal: CurrentPrincipal, svc: ServicesDep) -> list[CalendarPublic]:
    return await svc.calendar.calendars.shared_with_me(principal)


@router.put("/{calendar_id}/shares/{user_id}", response_model=CalendarPublic, summary="Owner: share read or write")
async def share_calendar(
    calendar_id: CalendarId, user_id: UserId, body: ShareSet, principal: CurrentPrincipal, svc: ServicesDep
) -> CalendarPublic:
    return await svc.calendar.calendars.share(principal, calendar_id, user_id, body.role)


@router.delete("/{calendar_id}/shares/{user_id}", response_model=CalendarPublic, summary="Owner: stop sharing")
async def unshare_calendar(
    calendar_id: CalendarId, user_id: UserId, principal: CurrentPrincipal, svc: ServicesDep
) -> CalendarPublic:
    return await svc.calendar.calendars.unshare(principal, calendar_id, user_id)


@router.get("/{calendar_id}", response_model=CalendarPublic)
async def get_calendar(calendar_id: CalendarId, principal: CurrentPrincipal, svc: ServicesDep) -> CalendarPublic:
    return await svc.calendar.calendars.get(principal, calendar_id)


@router.patch("/{calendar_id}", response_model=CalendarPublic)
async def update_calendar(
    calendar_id: CalendarId, body: CalendarUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> CalendarPublic:
    return await svc.calendar.calendars.update(principal, calendar_id, body)


@router.delete("/{calendar_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete with all its events")
async def delete_calendar(calendar_id: CalendarId, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.calendar.calendars.delete(principal, calendar_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{calendar_id}/feed", response_model=FeedToken, summary="New secret ICS feed URL (shown once)")
async def rotate_feed(calendar_id: CalendarId, principal: CurrentPrincipal, svc: ServicesDep) -> FeedToken:
    return await svc.calendar.calendars.rotate_feed(principal, calendar_id)


@router.delete("/{calendar_id}/feed", status_code=status.HTTP_204_NO_CONTENT, summary="Turn the ICS feed off")
async def revoke_feed(calendar_id: CalendarId, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.calendar.calendars.revoke_feed(principal, calendar_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{calendar_id}/sync-logs", response_model=list[SyncLogPublic])
async def sync_logs(
    calendar_id: CalendarId,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SyncLogPublic]:
    return await svc.calendar.ics.logs(principal, calendar_id, limit)
