"""Calendar events: CRUD, range queries expanding series, instance edits, splits, responses."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from connectnow.services.calendar.rules import as_utc
from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar_events import (
    Attendee,
    AttendeeResponse,
    EventCreate,
    EventFields,
    EventInstance,
    EventPublic,
    EventSaved,
    EventUpdate,
    FreeBusy,
    SplitRequest,
)
from models.dates import ClientDateTime
from models.mail import MailPublic

router = APIRouter(prefix="/calendar-events", tags=["calendar events"])
EventId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
SendUpdates = Annotated[
    Literal["all", "none"],
    Query(
        alias="sendUpdates",
        description="`all` mails every attendee but the organizer an invitation (ICS, METHOD:REQUEST, with their "
        "RSVP link) or, on delete, a cancellation (METHOD:CANCEL); sent after the write, never inside it. "
        "429 MAIL_QUOTA_EXCEEDED (checked first, nothing stored) past the daily bound.",
    ),
]
CalendarIds = Annotated[list[Annotated[str, Query(pattern=r"^[0-9a-f]{24}$")]] | None, Query(max_length=50)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EventSaved, summary="Create; warns of conflicts")
async def create_event(
    body: EventCreate, principal: CurrentPrincipal, svc: ServicesDep, send_updates: SendUpdates = "none"
) -> EventSaved:
    if send_updates == "all":
        return await svc.calendar.mail().create(principal, body)
    return await svc.calendar.events.create(principal, body)


@router.get("", response_model=list[EventInstance], summary="Occurrences in [timeMin, timeMax), series expanded")
async def list_range(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    time_min: Annotated[ClientDateTime, Query(alias="timeMin")],
    time_max: Annotated[ClientDateTime, Query(alias="timeMax")],
    calendar_id: Annotated[list[str] | None, Query(alias="calendarId", max_length=50)] = None,
) -> list[EventInstance]:
    return await svc.calendar.events.range(principal, calendar_id, as_utc(time_min, "UTC"), as_utc(time_max, "UTC"))


@router.get("/freebusy", response_model=FreeBusy, summary="My busy spans in [timeMin, timeMax), merged, no titles")
async def free_busy(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    time_min: Annotated[ClientDateTime, Query(alias="timeMin")],
    time_max: Annotated[ClientDateTime, Query(alias="timeMax")],
    calendar_id: Annotated[list[str] | None, Query(alias="calendarId", max_length=50)] = None,
) -> FreeBusy:
    return await svc.calendar.events.free_busy(principal, calendar_id, as_utc(time_min, "UTC"), as_utc(time_max, "UTC"))


@router.get("/search", response_model=list[EventInstance], summary="Occurrences whose title or location match q")
async def search_events(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    time_min: Annotated[ClientDateTime, Query(alias="timeMin")],
    time_max: Annotated[ClientDateTime, Query(alias="timeMax")],
    calendar_id: Annotated[list[str] | None, Query(alias="calendarId", max_length=50)] = None,
) -> list[EventInstance]:
    return await svc.calendar.events.search(principal, q, calendar_id, as_utc(time_min, "UTC"), as_utc(time_max, "UTC"))


@router.get("/{event_id}", response_model=EventPublic)
async def get_event(event_id: EventId, principal: CurrentPrincipal, svc: ServicesDep) -> EventPublic:
    return await svc.calendar.events.get(principal, event_id)


@router.patch("/{event_id}", response_model=EventSaved, summary="Update an event or a whole series")
async def update_event(
    event_id: EventId,
    body: EventUpdate,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    send_updates: SendUpdates = "none",
) -> EventSaved:
    if send_updates == "all":
        return await svc.calendar.mail().update(principal, event_id, body)
    return await svc.calendar.events.update(principal, event_id, body)


@router.delete("/{event_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an event or a whole series")
async def delete_event(
    event_id: EventId, principal: CurrentPrincipal, svc: ServicesDep, send_updates: SendUpdates = "none"
) -> Response:
    if send_updates == "all":
        await svc.calendar.mail().delete(principal, event_id)
    else:
        await svc.calendar.events.delete(principal, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{event_id}/invitations",
    response_model=list[MailPublic],
    summary="Invitation mails of the event and how far each got (writers of its calendar)",
)
async def invitations(event_id: EventId, principal: CurrentPrincipal, svc: ServicesDep) -> list[MailPublic]:
    """`status`: pending (queued or waiting to retry), sending, sent, failed (gave up; `lastError` says why)."""
    return await svc.calendar.mail().status(principal, event_id)


@router.patch("/{event_id}/instances/{original_start}", response_model=EventSaved, summary="Edit one instance")
async def edit_instance(
    event_id: EventId, original_start: ClientDateTime, body: EventFields, principal: CurrentPrincipal, svc: ServicesDep
) -> EventSaved:
    return await svc.calendar.series.edit_instance(principal, event_id, original_start, body)


@router.delete(
    "/{event_id}/instances/{original_start}", status_code=status.HTTP_204_NO_CONTENT, summary="Cancel one instance"
)
async def cancel_instance(
    event_id: EventId, original_start: ClientDateTime, principal: CurrentPrincipal, svc: ServicesDep
) -> Response:
    await svc.calendar.series.cancel_instance(principal, event_id, original_start)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{event_id}/split", status_code=status.HTTP_201_CREATED, response_model=EventSaved, summary="This and following"
)
async def split_series(
    event_id: EventId, body: SplitRequest, principal: CurrentPrincipal, svc: ServicesDep
) -> EventSaved:
    return await svc.calendar.series.split(principal, event_id, body)


@router.post("/{event_id}/responses", response_model=Attendee, summary="An attendee's response status")
async def respond(event_id: EventId, body: AttendeeResponse, principal: CurrentPrincipal, svc: ServicesDep) -> Attendee:
    return await svc.calendar.events.respond(principal, event_id, body)
