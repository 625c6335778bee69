"""Calendar locations: address, coordinates, capacity, equipment; nearby search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar import LocationCreate, LocationPublic, LocationUpdate

router = APIRouter(prefix="/calendar-locations", tags=["calendar locations"])
LocationId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LocationPublic)
async def create_location(body: LocationCreate, principal: CurrentPrincipal, svc: ServicesDep) -> LocationPublic:
    return await svc.calendar.catalog.create_location(principal, body)


@router.get("", response_model=list[LocationPublic], summary="Your locations and the global ones")
async def list_locations(principal: CurrentPrincipal, svc: ServicesDep) -> list[LocationPublic]:
    return await svc.calendar.catalog.list_locations(principal)


@router.get("/nearby", response_model=list[LocationPublic], summary="Active locations nearest first")
async def nearby(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    max_meters: Annotated[float, Query(alias="maxMeters", gt=0, le=20_000_000, allow_inf_nan=False)] = 5000,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[LocationPublic]:
    return await svc.calendar.catalog.nearby(principal, lat, lng, max_meters, limit)


@router.patch("/{location_id}", response_model=LocationPublic)
async def update_location(
    location_id: LocationId, body: LocationUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> LocationPublic:
    return await svc.calendar.catalog.update_location(principal, location_id, body)


@router.delete("/{location_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_location(location_id: LocationId, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.calendar.catalog.delete_location(principal, location_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
