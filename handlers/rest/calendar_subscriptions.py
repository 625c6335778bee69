"""Calendars subscribed to an ICS URL (issue 19). Documented in docs/SIDECAR-CALENDAR.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar_subscriptions import SubscriptionCreate, SubscriptionPublic
from models.common import ErrorResponse

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": meaning}
    for code, meaning in (
        (404, "NOT_FOUND (not yours)"),
        (409, "CONFLICT (too many subscriptions or calendars)"),
        (422, "CALENDAR_URL_FORBIDDEN (a private or local host), VALIDATION_FAILED (interval below the minimum)"),
    )
}
router = APIRouter(prefix="/calendar-subscriptions", tags=["calendars"], responses=ERROR_RESPONSES)
SubscriptionId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=SubscriptionPublic, summary="Subscribe to an ICS URL"
)
async def subscribe(body: SubscriptionCreate, principal: CurrentPrincipal, svc: ServicesDep) -> SubscriptionPublic:
    """Creates a read-only calendar filled from the URL now and every `refreshIntervalMinutes`."""
    return await svc.calendar.subscriptions.create(principal, body)


@router.get("", response_model=list[SubscriptionPublic], summary="My subscriptions and how their last fetch went")
async def list_subscriptions(principal: CurrentPrincipal, svc: ServicesDep) -> list[SubscriptionPublic]:
    return await svc.calendar.subscriptions.list_all(principal)


@router.get("/{subscription_id}", response_model=SubscriptionPublic)
async def get_subscription(
    subscription_id: SubscriptionId, principal: CurrentPrincipal, svc: ServicesDep
) -> SubscriptionPublic:
    return await svc.calendar.subscriptions.get(principal, subscription_id)


@router.post("/{subscription_id}/refresh", response_model=SubscriptionPublic, summary="Fetch again now")
async def refresh(subscription_id: SubscriptionId, principal: CurrentPrincipal, svc: ServicesDep) -> SubscriptionPublic:
    return await svc.calendar.subscriptions.refresh_soon(principal, subscription_id)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Unsubscribe (its calendar goes)")
async def unsubscribe(subscription_id: SubscriptionId, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.calendar.subscriptions.delete(principal, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
