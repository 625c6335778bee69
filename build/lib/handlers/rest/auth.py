"""Register, log in, refresh, log out, and a user's own sessions."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from handlers.rest.deps import ClientDep, CurrentPrincipal, ServicesDep
from models.auth import RefreshIn, SessionPublic, TokenPair
from models.users import LoginIn, RegisterIn

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=TokenPair)
async def register(body: RegisterIn, svc: ServicesDep, client: ClientDep) -> TokenPair:
    return await svc.auth.register(body, client)


@router.post("/login", response_model=TokenPair)
async def login(body: LoginIn, svc: ServicesDep, client: ClientDep) -> TokenPair:
    return await svc.auth.login(body, client)


@router.post("/refresh", response_model=TokenPair, summary="Rotate tokens; a reused refresh token revokes the session")
async def refresh(body: RefreshIn, svc: ServicesDep) -> TokenPair:
    return await svc.auth.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.auth.logout(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", response_model=list[SessionPublic])
async def list_sessions(principal: CurrentPrincipal, svc: ServicesDep) -> list[SessionPublic]:
    return await svc.auth.list_sessions(principal)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def end_session(session_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.auth.end_session(principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
