"""Server administrators: list users, ban and unban, disable and enable; the dashboard's drill-downs and
operator actions (docs/OPERATORS.md). Every change to a user is written to the operator audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.auth import SessionPublic
from models.base import IdStr
from models.bounds import INT64_MAX
from models.dashboard import MembersPage, MembersQuery, OperatorAction, OperatorAuditEntry
from models.users import AdminUserAction, UserMe

router = APIRouter(prefix="/admin", tags=["admin"])

OptionalAction = Annotated[AdminUserAction | None, Body()]


@router.get("/users", response_model=list[UserMe])
async def list_users(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[UserMe]:
    return await svc.users.list_users(principal, offset=offset, limit=limit)


@router.post("/users/{user_id}/ban", response_model=UserMe, summary="Ban: ends sessions, closes sockets")
async def ban(user_id: str, principal: CurrentPrincipal, svc: ServicesDep, body: OptionalAction = None) -> UserMe:
    action = body or AdminUserAction()
    done = await svc.users.set_banned(principal, user_id, True, action)
    await svc.operators.record(principal, "ban", user_id, action.reason, "done")
    return done


@router.post("/users/{user_id}/unban", response_model=UserMe)
async def unban(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    done = await svc.users.set_banned(principal, user_id, False, AdminUserAction())
    await svc.operators.record(principal, "unban", user_id, None, "done")
    return done


@router.post("/users/{user_id}/disable", response_model=UserMe, summary="Disable: ends sessions, closes sockets")
async def disable(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    done = await svc.users.set_active(principal, user_id, False)
    await svc.operators.record(principal, "disable", user_id, None, "done")
    return done


@router.post("/users/{user_id}/enable", response_model=UserMe)
async def enable(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> UserMe:
    done = await svc.users.set_active(principal, user_id, True)
    await svc.operators.record(principal, "enable", user_id, None, "done")
    return done


@router.get("/users/{user_id}/sessions", response_model=list[SessionPublic], summary="A user's live sessions")
async def user_sessions(user_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[SessionPublic]:
    return await svc.operators.sessions(principal, user_id)


@router.post("/actions", response_model=OperatorAuditEntry, summary="Disconnect, ban or revoke a session (audited)")
async def act(action: OperatorAction, principal: CurrentPrincipal, svc: ServicesDep) -> OperatorAuditEntry:
    return await svc.operators.act(principal, action)


@router.get("/actions", response_model=list[OperatorAuditEntry], summary="The audit trail, newest first")
async def audit_trail(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    user_id: Annotated[IdStr | None, Query(alias="userId")] = None,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[OperatorAuditEntry]:
    return await svc.operators.audit(principal, user_id=user_id, offset=offset, limit=limit)


@router.get("/workspaces/{workspace_id}/members", response_model=MembersPage, summary="Members with presence")
async def workspace_members(
    workspace_id: IdStr,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    q: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MembersPage:
    query = MembersQuery.model_validate({"workspaceId": workspace_id, "q": q, "offset": offset, "limit": limit})
    return await svc.dashboard.members_page(principal, query)


@router.get("/workers", summary="Every worker's health and last 15 minutes of samples")
async def workers(principal: CurrentPrincipal, svc: ServicesDep) -> list[dict[str, Any]]:
    return svc.dashboard.workers(principal)
