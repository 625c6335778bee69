"""REST for e-mail verification and password reset (no socket events: the reset happens signed out)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import EmailStr, StringConstraints

from handlers.rest.deps import ClientDep, CurrentPrincipal, ServicesDep
from models.base import InputModel
from models.users import PasswordText

router = APIRouter(prefix="/account", tags=["account"])
TokenText = Annotated[str, StringConstraints(min_length=16, max_length=128)]


class TokenIn(InputModel):
    token: TokenText


class ForgotIn(InputModel):
    email: EmailStr


class ResetIn(InputModel):
    token: TokenText
    password: PasswordText


def _accepted() -> Response:
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/verify-email/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,  # an empty body: OpenAPI declares no content for it
    summary="Mail me a verification link",
)
async def request_verification(principal: CurrentPrincipal, svc: ServicesDep, client: ClientDep) -> Response:
    await svc.accounts.request_verification(principal, client.ip_address)
    return _accepted()


@router.post("/verify-email", status_code=status.HTTP_204_NO_CONTENT, summary="Confirm the address (single use)")
async def verify(body: TokenIn, svc: ServicesDep, client: ClientDep) -> Response:
    await svc.accounts.verify(body.token, client.ip_address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    summary="Mail a reset link if it exists",
)
async def forgot(body: ForgotIn, svc: ServicesDep, client: ClientDep) -> Response:
    await svc.accounts.request_reset(str(body.email), client.ip_address)
    return _accepted()


@router.post("/password/reset", status_code=status.HTTP_204_NO_CONTENT, summary="Set a new password (single use)")
async def reset(body: ResetIn, svc: ServicesDep, client: ClientDep) -> Response:
    await svc.accounts.reset(body.token, body.password, client.ip_address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
