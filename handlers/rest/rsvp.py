"""RSVP links (calendar sidecar): the organizer's signed, single-use links per invitee, answering through
one without an account, and linking an invitation to one's account. Documented in docs/SIDECAR-CALENDAR.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar_events import Attendee, RsvpAnswer, RsvpLink, RsvpView

router = APIRouter(tags=["calendar events"])
EventId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
Token = Annotated[
    str, Path(min_length=10, max_length=120, pattern=r"^[0-9a-f]{24}\.[A-Za-z0-9_-]{1,40}\.[0-9a-f]{32}$")
]


@router.get("/calendar-events/{event_id}/rsvp-links", response_model=list[RsvpLink], summary="Organizer: RSVP links")
async def rsvp_links(event_id: EventId, principal: CurrentPrincipal, svc: ServicesDep) -> list[RsvpLink]:
    """One signed link per invitee, for the organizer to send them; a link answers once."""
    return await svc.calendar.rsvp.links(principal, event_id)


@router.get("/rsvp/{token}", response_model=RsvpView, summary="The invitation an RSVP link is for (no login)")
async def rsvp_view(token: Token, svc: ServicesDep) -> RsvpView:
    return await svc.calendar.rsvp.view(token)


@router.post("/rsvp/{token}", response_model=RsvpView, summary="Answer through an RSVP link (no login, single use)")
async def rsvp_answer(token: Token, body: RsvpAnswer, svc: ServicesDep) -> RsvpView:
    return await svc.calendar.rsvp.answer(token, body.response_status)


@router.post("/rsvp/{token}/link", response_model=Attendee, summary="Link the invitation to my account (single use)")
async def rsvp_link(token: Token, principal: CurrentPrincipal, svc: ServicesDep) -> Attendee:
    """The event then shows in my calendars (`invited: true`) and I answer it through
    `POST /calendar-events/{id}/responses`."""
    return await svc.calendar.rsvp.link_account(principal, token)
