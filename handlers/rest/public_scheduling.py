"""Public booking at a host's scheduling link: no login. Documented in docs/SIDECAR-SCHEDULING.md."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from connectnow.node import Services
from connectnow.services.scheduling.public import PublicBookingService
from handlers.rest.deps import ClientDep, ServicesDep
from models.common import ErrorResponse
from models.dates import ClientDateTime
from models.scheduling_public import (
    GuestBookingCreate,
    GuestBookingReceipt,
    GuestCancel,
    GuestReschedule,
    PublicHost,
    PublicSlots,
)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status_code: {"model": ErrorResponse, "description": meaning}
    for status_code, meaning in (
        (404, "NOT_FOUND (no such page or event type), BOOKING_LINK_INVALID (bad, foreign or used link)"),
        (409, "SCHEDULING_POLICY_VIOLATION (details.rule, calendarBusy included), BOOKING_STATUS_INVALID, CONFLICT"),
        (413, "PAYLOAD_TOO_LARGE"),
        (422, "VALIDATION_FAILED, BOOKING_TIME_INVALID, TIMEZONE_UNKNOWN, SCHEDULING_RANGE_INVALID"),
        (429, "RATE_LIMITED (per client address; Retry-After)"),
    )
}
ICS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
    201: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
}
router = APIRouter(prefix="/public/scheduling", tags=["public scheduling"], responses=ERROR_RESPONSES)
Username = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{2,39}$")]
BookingId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]
Token = Annotated[
    str, Query(min_length=60, max_length=120, pattern=r"^[0-9a-f]{24}\.[A-Za-z0-9_-]{1,40}\.[0-9a-f]{32}$")
]


def _answer(request: Request, receipt: GuestBookingReceipt, code: int) -> GuestBookingReceipt | Response:
    """JSON by default; the bare invitation when the client asks for text/calendar."""
    if "text/calendar" in request.headers.get("accept", ""):
        return Response(receipt.invitation or "", status_code=code, media_type="text/calendar")
    return receipt


@router.get("/{username}", response_model=PublicHost, summary="A host's public scheduling page (no login)")
async def page(username: Username, svc: ServicesDep) -> PublicHost:
    """The host's display name, church, role, time zone and bookable event types."""
    return await svc.scheduling.public_booking().page(username)


@router.get("/{username}/slots", response_model=PublicSlots, summary="Open slots (no login)")
async def slots(
    username: Username,
    svc: ServicesDep,
    since: Annotated[ClientDateTime, Query(alias="from")],
    until: Annotated[ClientDateTime, Query(alias="to")],
    duration_minutes: Annotated[int, Query(alias="durationMinutes", ge=5, le=24 * 60)] = 30,
) -> PublicSlots:
    """Slots every scheduling policy allows that miss the host's bookings and calendar events (≤ 31 days)."""
    return await svc.scheduling.public_booking().slots(username, since, until, duration_minutes)


@router.post(
    "/{username}/bookings",
    status_code=status.HTTP_201_CREATED,
    response_model=GuestBookingReceipt,
    responses=ICS_RESPONSE,
    summary="Book as a guest (no login; rate-limited per address)",
)
async def book(
    username: Username, body: GuestBookingCreate, request: Request, client: ClientDep, svc: ServicesDep
) -> GuestBookingReceipt | Response:
    """Books `eventTypeId` at `startTime` under the host's policies. Answers the receipt with signed cancel and
    reschedule links and the ICS invitation (`Accept: text/calendar` answers the invitation alone)."""
    receipt = await svc.scheduling.public_booking().book(username, body, client.ip_address)
    return _answer(request, receipt, status.HTTP_201_CREATED)


@dataclass
class GuestLink:
    """What both signed-link endpoints share: the booking, the token, who asks, and how to answer."""

    booking_id: str
    token: str
    request: Request
    address: str | None
    svc: Services

    async def act(
        self, action: Callable[[PublicBookingService], Awaitable[GuestBookingReceipt]]
    ) -> GuestBookingReceipt | Response:
        receipt = await action(self.svc.scheduling.public_booking())
        return _answer(self.request, receipt, status.HTTP_200_OK)


def guest_link(booking_id: BookingId, token: Token, request: Request, client: ClientDep, svc: ServicesDep) -> GuestLink:
    return GuestLink(booking_id, token, request, client.ip_address, svc)


GuestLinkDep = Annotated[GuestLink, Depends(guest_link)]


@router.post(
    "/{username}/bookings/{booking_id}/cancel",
    response_model=GuestBookingReceipt,
    responses=ICS_RESPONSE,
    summary="Cancel through the guest's signed link (single use)",
)
async def cancel(username: Username, body: GuestCancel, link: GuestLinkDep) -> GuestBookingReceipt | Response:
    return await link.act(lambda public: public.cancel(link.booking_id, link.token, body.reason, link.address))


@router.post(
    "/{username}/bookings/{booking_id}/reschedule",
    response_model=GuestBookingReceipt,
    responses=ICS_RESPONSE,
    summary="Move the booking through the guest's signed link (single use; answers new links)",
)
async def reschedule(username: Username, body: GuestReschedule, link: GuestLinkDep) -> GuestBookingReceipt | Response:
    return await link.act(lambda public: public.reschedule(link.booking_id, link.token, body, link.address))
