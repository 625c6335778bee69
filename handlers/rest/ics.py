"""iCalendar: the secret-token feed (no login; ETag, Last-Modified, 304), export and import."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar import SyncLogPublic

router = APIRouter(prefix="/ics", tags=["ics"])
CalendarId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
FEED_CACHE = "private, max-age=300"  # calendar clients poll; five minutes keeps them honest


def _not_modified(request: Request, etag: str, last_modified_http: str, last_modified: object) -> bool:
    tags = request.headers.get("if-none-match")
    if tags is not None:  # RFC 9110 13.1.3: If-None-Match wins over If-Modified-Since
        return etag in [t.strip().removeprefix("W/") for t in tags.split(",")] or tags.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return bool(parsedate_to_datetime(since) >= last_modified.replace(microsecond=0))  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            return False
    return False


@router.get("/feeds/{token}.ics", summary="Subscribe URL: the calendar as iCalendar (the token is the secret)")
async def feed(token: Annotated[str, Path(max_length=128)], request: Request, svc: ServicesDep) -> Response:
    body = await svc.calendar.ics.feed(token)
    last_modified = format_datetime(body.last_modified, usegmt=True)
    headers = {"ETag": body.etag, "Last-Modified": last_modified, "Cache-Control": FEED_CACHE}
    if _not_modified(request, body.etag, last_modified, body.last_modified):
        return Response(status_code=304, headers=headers)
    return Response(body.body, media_type=ICS_MEDIA_TYPE, headers=headers)


@router.get("/calendars/{calendar_id}/export", summary="Download your calendar as iCalendar")
async def export(calendar_id: CalendarId, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    body = await svc.calendar.ics.export(principal, calendar_id)
    disposition = f'attachment; filename="calendar-{calendar_id}.ics"'
    return Response(body, media_type=ICS_MEDIA_TYPE, headers={"Content-Disposition": disposition})


@router.post(
    "/import/{calendar_id}",
    response_model=SyncLogPublic,
    summary="Import an .ics body (text/calendar), all or nothing; same UID updates; returns the sync log",
)
async def import_ics(
    calendar_id: CalendarId,
    request: Request,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    prune: Annotated[bool, Query(description="Delete events whose UID is not in the file")] = False,
) -> SyncLogPublic:
    return await svc.calendar.ics.import_ics(principal, calendar_id, await request.body(), prune=prune)
