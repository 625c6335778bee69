"""REST mirrors for workspaces, invites and members (/api/v1/workspaces)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Response, status
from pydantic import BaseModel, ValidationError

from connectnow import errors
from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.base import IdStr
from models.workspaces import (
    BanCreate,
    BanPublic,
    InviteCreate,
    InviteCreated,
    InvitePublic,
    JoinByCode,
    MemberPage,
    MemberPublic,
    MemberRef,
    MemberSearch,
    MemberUpdate,
    WorkspaceCreate,
    WorkspacePublic,
    WorkspaceUpdate,
)

router = APIRouter(prefix="/workspaces", tags=["workspaces"])
M = TypeVar("M", bound=BaseModel)
JsonBody = Annotated[dict[str, Any], Body()]
OptionalBody = Annotated[dict[str, Any] | None, Body()]
BODY_COMPONENTS: dict[str, Any] = {}  # schemas the typed mirror bodies refer to
BODY_SCHEMA_KEY = "x-connectnow-body"


def with_path(model: type[M], body: dict[str, Any] | None, **path: str) -> M:
    """Validate a body plus the ids from the path (the path wins), with the socket events' rules."""
    try:
        return model.model_validate({**(body or {}), **path})
    except ValidationError as exc:
        raise errors.validation_failed(exc.errors()) from exc


def typed_body(model: type[BaseModel], *path_fields: str, required: bool = True) -> dict[str, Any]:
    """The OpenAPI request body of a mirror that validates its body with `with_path`: the event's model
    without the fields the path supplies. Models it refers to are published as components (openapi.py)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    BODY_COMPONENTS.update(schema.pop("$defs", {}))
    for name in path_fields:
        schema.get("properties", {}).pop(name, None)
    remaining = [name for name in schema.get("required", []) if name not in path_fields]
    schema["required"] = remaining
    schema["title"] = f"{model.__name__}Body"
    schema["additionalProperties"] = False
    required = required or bool(remaining)  # an absent body is the same as {}
    # openapi.py puts this schema in place of FastAPI's {"type": "object"} (a deep merge would mix the two).
    return {"requestBody": {"required": required}, BODY_SCHEMA_KEY: schema}


def no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WorkspacePublic)
async def create(body: WorkspaceCreate, principal: CurrentPrincipal, svc: ServicesDep) -> WorkspacePublic:
    return await svc.workspaces.create(principal, body)


@router.get("", response_model=list[WorkspacePublic])
async def mine(principal: CurrentPrincipal, svc: ServicesDep) -> list[WorkspacePublic]:
    return await svc.workspaces.mine(principal)


@router.post("/join", response_model=WorkspacePublic, summary="Join with an invite code")
async def join_by_code(body: JoinByCode, principal: CurrentPrincipal, svc: ServicesDep) -> WorkspacePublic:
    return await svc.workspaces.join_by_code(principal, body.code)


@router.get("/{workspace_id}", response_model=WorkspacePublic)
async def get(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> WorkspacePublic:
    return await svc.workspaces.get(principal, workspace_id)


@router.patch(
    "/{workspace_id}", response_model=WorkspacePublic, openapi_extra=typed_body(WorkspaceUpdate, "workspaceId")
)
async def update(workspace_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> WorkspacePublic:
    return await svc.workspaces.update(principal, with_path(WorkspaceUpdate, body, workspaceId=workspace_id))


@router.delete("/{workspace_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.workspaces.delete(principal, workspace_id)
    return no_content()


@router.post("/{workspace_id}/join", response_model=WorkspacePublic, summary="Join a public workspace")
async def join(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> WorkspacePublic:
    return await svc.workspaces.join_public(principal, workspace_id)


@router.post("/{workspace_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.workspaces.leave(principal, workspace_id)
    return no_content()


@router.post(
    "/{workspace_id}/transfer",
    response_model=WorkspacePublic,
    summary="Transfer ownership",
    openapi_extra=typed_body(MemberRef, "workspaceId"),
)
async def transfer(
    workspace_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep
) -> WorkspacePublic:
    ref = with_path(MemberRef, body, workspaceId=workspace_id)
    return await svc.workspaces.transfer(principal, ref.workspace_id, ref.user_id)


@router.post(
    "/{workspace_id}/invites",
    status_code=status.HTTP_201_CREATED,
    response_model=InviteCreated,
    openapi_extra=typed_body(InviteCreate, "workspaceId", required=False),
)
async def create_invite(
    workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, body: OptionalBody = None
) -> InviteCreated:
    return await svc.workspaces.create_invite(principal, with_path(InviteCreate, body, workspaceId=workspace_id))


@router.post(
    "/{workspace_id}/invites/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=InviteCreated,
    openapi_extra=typed_body(InviteCreate, "workspaceId", required=False),
)
async def rotate_invites(
    workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, body: OptionalBody = None
) -> InviteCreated:
    return await svc.workspaces.rotate_invites(principal, with_path(InviteCreate, body, workspaceId=workspace_id))


@router.get("/{workspace_id}/invites", response_model=list[InvitePublic])
async def list_invites(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[InvitePublic]:
    return await svc.workspaces.list_invites(principal, workspace_id)


@router.delete("/{workspace_id}/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invite(
    workspace_id: IdStr, invite_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep
) -> Response:
    await svc.workspaces.revoke_invite(principal, workspace_id, invite_id)
    return no_content()


@router.get("/{workspace_id}/members", response_model=list[MemberPublic])
async def members(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[MemberPublic]:
    return await svc.workspaces.members(principal, workspace_id)


@router.get("/{workspace_id}/directory", response_model=MemberPage, summary="Search the member directory (paged)")
async def directory(
    workspace_id: IdStr,
    principal: CurrentPrincipal,
    svc: ServicesDep,
    q: str = "",
    after: str | None = None,
    limit: int = 50,
) -> MemberPage:
    data = with_path(MemberSearch, {"query": q, "after": after, "limit": limit}, workspaceId=workspace_id)
    return await svc.workspaces.search_members(principal, data)


@router.patch(
    "/{workspace_id}/members/{user_id}",
    response_model=MemberPublic,
    summary="Change role or nickname",
    openapi_extra=typed_body(MemberUpdate, "workspaceId", "userId"),
)
async def update_member(
    workspace_id: IdStr, user_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep
) -> MemberPublic:
    data = with_path(MemberUpdate, body, workspaceId=workspace_id, userId=user_id)
    return await svc.workspaces.update_member(principal, data)


@router.delete("/{workspace_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Kick")
async def kick(workspace_id: IdStr, user_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.workspaces.kick(principal, workspace_id, user_id)
    return no_content()


@router.get("/{workspace_id}/bans", response_model=list[BanPublic])
async def bans(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[BanPublic]:
    return await svc.workspaces.bans(principal, workspace_id)


@router.post(
    "/{workspace_id}/bans",
    status_code=status.HTTP_201_CREATED,
    response_model=BanPublic,
    openapi_extra=typed_body(BanCreate, "workspaceId"),
)
async def ban(workspace_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> BanPublic:
    return await svc.workspaces.ban(principal, with_path(BanCreate, body, workspaceId=workspace_id))


@router.delete("/{workspace_id}/bans/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unban(workspace_id: IdStr, user_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.workspaces.unban(principal, workspace_id, user_id)
    return no_content()
