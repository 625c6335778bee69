"""Scheduling sidecar: bookings and their lifecycle, scheduling policies, availability, summaries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from connectnow.services.scheduling import SchedulingServices
from connectnow.services.scheduling.access import Actor
from connectnow.services.scheduling.bookings import Scope
from handlers.rest.deps import ClientDep, CurrentPrincipal, ServicesDep
from models.bounds import INT64_MAX
from models.common import ErrorResponse
from models.dates import ClientDateTime
from models.mail import MailPublic
from models.scheduling import (
    Availability,
    BookingCreate,
    BookingDecision,
    BookingPublic,
    BookingReschedule,
    BookingStatus,
    PolicyPublic,
    PolicyUpdate,
)
from models.scheduling_forms import AiConfigPublic, AiConfigUpdate, SummaryPublic
from models.scheduling_ops import JobPublic
from models.scheduling_public import HostProfile, HostProfileUpdate

# Every refusal has the catalogue's shape (docs/ERRORS.md); listed so the OpenAPI document shows it.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status_code: {"model": ErrorResponse, "description": meaning}
    for status_code, meaning in (
        (401, "AUTH_REQUIRED and other authentication failures"),
        (403, "FORBIDDEN, ADMIN_REQUIRED"),
        (404, "NOT_FOUND: unknown, or not yours to see"),
        (409, "SCHEDULING_POLICY_VIOLATION (details.rule), BOOKING_STATUS_INVALID, CONFLICT, FORM_INACTIVE"),
        (413, "PAYLOAD_TOO_LARGE"),
        (422, "VALIDATION_FAILED, BOOKING_TIME_INVALID, TIMEZONE_UNKNOWN, FORM_* codes"),
        (500, "DECRYPTION_FAILED, INTERNAL"),
    )
}
router = APIRouter(prefix="/scheduling", tags=["scheduling"], responses=ERROR_RESPONSES)


def get_actor(principal: CurrentPrincipal, client: ClientDep) -> Actor:
    return Actor(principal=principal, client=client)


def get_scheduling(svc: ServicesDep) -> SchedulingServices:
    return svc.scheduling


ActorDep = Annotated[Actor, Depends(get_actor)]
SchedulingDep = Annotated[SchedulingServices, Depends(get_scheduling)]


@router.post("/bookings", status_code=status.HTTP_201_CREATED, response_model=BookingPublic)
async def create_booking(body: BookingCreate, actor: ActorDep, sch: SchedulingDep) -> BookingPublic:
    """Book a meeting on a host's calendar; every scheduling policy of the host is enforced."""
    return await sch.bookings.create(actor, body)


@router.get("/bookings", response_model=list[BookingPublic])
async def list_bookings(
    actor: ActorDep,
    sch: SchedulingDep,
    scope: Scope = "all",
    status_: Annotated[BookingStatus | None, Query(alias="status")] = None,
    since: Annotated[ClientDateTime | None, Query(alias="from")] = None,
    until: Annotated[ClientDateTime | None, Query(alias="to")] = None,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    user_id: Annotated[str | None, Query(alias="userId", max_length=64)] = None,
) -> list[BookingPublic]:
    """Bookings you host or booked: scope upcoming, past, cancelled or all; status; start time range.
    Administrators may pass userId to list another user's."""
    return await sch.bookings.list(
        actor, scope=scope, status=status_, since=since, until=until, offset=offset, limit=limit, for_user=user_id
    )


@router.get("/bookings/{booking_id}", response_model=BookingPublic)
async def get_booking(booking_id: str, actor: ActorDep, sch: SchedulingDep) -> BookingPublic:
    return await sch.bookings.get(actor, booking_id)


@router.post("/bookings/{booking_id}/accept", response_model=BookingPublic)
async def accept_booking(
    booking_id: str, actor: ActorDep, sch: SchedulingDep, body: BookingDecision | None = None
) -> BookingPublic:
    return await sch.bookings.transition(actor, booking_id, "accept", body.reason if body else None)


@router.post("/bookings/{booking_id}/reject", response_model=BookingPublic)
async def reject_booking(booking_id: str, body: BookingDecision, actor: ActorDep, sch: SchedulingDep) -> BookingPublic:
    return await sch.bookings.transition(actor, booking_id, "reject", body.reason)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingPublic)
async def cancel_booking(booking_id: str, body: BookingDecision, actor: ActorDep, sch: SchedulingDep) -> BookingPublic:
    return await sch.bookings.transition(actor, booking_id, "cancel", body.reason)


@router.post("/bookings/{booking_id}/reschedule", response_model=BookingPublic)
async def reschedule_booking(
    booking_id: str, body: BookingReschedule, actor: ActorDep, sch: SchedulingDep
) -> BookingPublic:
    """Move a meeting; the policies are checked again, ignoring the meeting's old slot."""
    return await sch.bookings.reschedule(actor, booking_id, body)


@router.get("/bookings/{booking_id}/summary", response_model=SummaryPublic)
async def get_summary(booking_id: str, actor: ActorDep, sch: SchedulingDep) -> SummaryPublic:
    return await sch.summaries.latest(actor, booking_id)


@router.get(
    "/bookings/{booking_id}/invitations",
    response_model=list[MailPublic],
    summary="The guest's invitation and cancellation mails and how far each got",
)
async def booking_invitations(booking_id: str, actor: ActorDep, sch: SchedulingDep) -> list[MailPublic]:
    """`status`: pending (queued or waiting to retry), sending, sent, failed (gave up; `lastError` says why)."""
    return await sch.public_booking().invitations(actor, booking_id)


@router.get("/bookings/{booking_id}/jobs", response_model=list[JobPublic])
async def booking_jobs(booking_id: str, actor: ActorDep, sch: SchedulingDep) -> list[JobPublic]:
    await sch.bookings.load(actor, booking_id)
    return await sch.jobs.list_for_booking(booking_id)


@router.get("/policy", response_model=PolicyPublic)
async def get_policy(actor: ActorDep, sch: SchedulingDep) -> PolicyPublic:
    return await sch.policies.get(actor.user_id)


@router.put("/policy", response_model=PolicyPublic)
async def put_policy(body: PolicyUpdate, actor: ActorDep, sch: SchedulingDep) -> PolicyPublic:
    return await sch.policies.update(actor, body)


@router.get("/users/{user_id}/availability", response_model=Availability)
async def availability(
    user_id: str,
    _: ActorDep,
    sch: SchedulingDep,
    since: Annotated[ClientDateTime, Query(alias="from")],
    until: Annotated[ClientDateTime, Query(alias="to")],
    duration_minutes: Annotated[int, Query(alias="durationMinutes", ge=5, le=24 * 60)] = 30,
    step_minutes: Annotated[int, Query(alias="stepMinutes", ge=5, le=24 * 60)] = 30,
) -> Availability:
    """Free slots on a host's calendar: only times, never what the busy times are."""
    return await sch.policies.availability(user_id, since, until, duration_minutes, step_minutes)


@router.get("/profile", response_model=HostProfile)
async def get_profile(actor: ActorDep, sch: SchedulingDep) -> HostProfile:
    """Your public scheduling profile (seed 003: schedulingUsername, schedulingLink, churchName, role, calUserId)."""
    return await sch.public_booking().get_profile(actor)


@router.put("/profile", response_model=HostProfile)
async def put_profile(body: HostProfileUpdate, actor: ActorDep, sch: SchedulingDep) -> HostProfile:
    """Replace your profile and event types; a schedulingUsername opens your public booking page."""
    return await sch.public_booking().set_profile(actor, body)


@router.get("/ai-config", response_model=AiConfigPublic)
async def get_ai_config(actor: ActorDep, sch: SchedulingDep) -> AiConfigPublic:
    return await sch.summaries.get_config(actor, global_scope=False)


@router.put("/ai-config", response_model=AiConfigPublic)
async def put_ai_config(body: AiConfigUpdate, actor: ActorDep, sch: SchedulingDep) -> AiConfigPublic:
    """Your summary settings; retentionDays sets how long your summaries are kept."""
    return await sch.summaries.put_config(actor, body, global_scope=False)
