"""Server administrators: list users, ban and unban, disable and enable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.users import AdminUserAction, UserMe

router = APIRouter(prefix="/admin", tags=["admin"])

OptionalAction = Annotated[AdminUserAction | None, Body()]


@router.get("/users", response_model=list[UserMe])
async def list_users(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[UserMe]:
    return await svc.users.list_users(principal, offset=offset, limit=limit)


@router.post("/users/{user_id}/ban", response_model=UserMe, summary="Ban: ends sessions, closes sockets")
async def ban(user_id: str, principal: CurrentPrincipal, svc: ServicesDep, body: OptionalAction = None) -> UserMe:
    return await svc.users.set_banned(principal, user_id, True, body or AdminUserAction())


@router.post("/users/{user_id}/unban", response_model=UserMe)
async def unban(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    return await svc.users.set_banned(principal, user_id, False, AdminUserAction())


@router.post("/users/{user_id}/disable", response_model=UserMe, summary="Disable: ends sessions, closes sockets")
async def disable(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    return await svc.users.set_active(principal, user_id, False)


@router.post("/users/{user_id}/enable", response_model=UserMe)
async def enable(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    return await svc.users.set_active(principal, user_id, True)
