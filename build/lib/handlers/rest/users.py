"""A user's own profile and password, and other users' public profiles."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.users import PasswordChange, UserMe, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserMe)
async def get_me(principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    return svc.users.me(principal.user)


@router.patch("/me", response_model=UserMe)
async def update_me(body: UserUpdate, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    return await svc.users.update_me(principal, body)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, summary="Change password; ends other sessions")
async def change_password(body: PasswordChange, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.users.change_password(principal, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: str, _: CurrentPrincipal, svc: ServicesDep) -> UserPublic:
    return await svc.users.get_public(user_id)
