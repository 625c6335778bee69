"""Dependencies shared by every router, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connectnow import errors
from connectnow.errors import AppError
from connectnow.identity import ClientInfo, Principal
from connectnow.node import Node, Services

_bearer = HTTPBearer(auto_error=False, description="An access token (cna_...) or an API key (cnk_...)")


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def get_services(request: Request) -> Services:
    return get_node(request).svc


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    # Only the Authorization header is read: tokens in query strings leak into logs and histories.
    if credentials is None:
        if request.headers.get("authorization"):
            raise AppError(errors.AUTH_MALFORMED, "Use 'Authorization: Bearer <token>'")
        raise AppError(errors.AUTH_REQUIRED)
    return await get_services(request).auth.authenticate(credentials.credentials)


def client_info(request: Request) -> ClientInfo:
    # The peer, or the right-most hop that no trusted proxy added (connectnow/proxies.py rewrote it).
    ip = request.client.host if request.client else None
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip_address=ip)


NodeDep = Annotated[Node, Depends(get_node)]
ServicesDep = Annotated[Services, Depends(get_services)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
ClientDep = Annotated[ClientInfo, Depends(client_info)]
