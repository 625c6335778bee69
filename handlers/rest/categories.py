"""Calendar categories: personal, or global (administrators); unique name per owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.calendar import CategoryCreate, CategoryPublic, CategoryUpdate

router = APIRouter(prefix="/calendar-categories", tags=["calendar categories"])
CategoryId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CategoryPublic)
async def create_category(body: CategoryCreate, principal: CurrentPrincipal, svc: ServicesDep) -> CategoryPublic:
    return await svc.calendar.catalog.create_category(principal, body)


@router.get("", response_model=list[CategoryPublic], summary="Your categories and the global ones")
async def list_categories(principal: CurrentPrincipal, svc: ServicesDep) -> list[CategoryPublic]:
    return await svc.calendar.catalog.list_categories(principal)


@router.patch("/{category_id}", response_model=CategoryPublic)
async def update_category(
    category_id: CategoryId, body: CategoryUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> CategoryPublic:
    return await svc.calendar.catalog.update_category(principal, category_id, body)


@router.delete("/{category_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_category(category_id: CategoryId, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.calendar.catalog.delete_category(principal, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
