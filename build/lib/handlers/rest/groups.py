"""Contact groups and their members (bulk add and remove). Documented in docs/SIDECAR-BROADCASTS.md."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.contacts import ContactPublic, GroupCreate, GroupPublic, GroupUpdate, MembersChange, MembersChanged

router = APIRouter(prefix="/groups", tags=["contact groups"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GroupPublic)
async def create_group(body: GroupCreate, principal: CurrentPrincipal, svc: ServicesDep) -> GroupPublic:
    return await svc.broadcasts.groups.create(principal, body)


@router.get("", response_model=list[GroupPublic])
async def list_groups(principal: CurrentPrincipal, svc: ServicesDep) -> list[GroupPublic]:
    return await svc.broadcasts.groups.list_groups(principal)


@router.get("/{group_id}", response_model=GroupPublic)
async def get_group(group_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> GroupPublic:
    return await svc.broadcasts.groups.get(principal, group_id)


@router.patch("/{group_id}", response_model=GroupPublic)
async def update_group(group_id: str, body: GroupUpdate, principal: CurrentPrincipal, svc: ServicesDep) -> GroupPublic:
    return await svc.broadcasts.groups.update(principal, group_id, body)


@router.delete("/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.broadcasts.groups.delete(principal, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{group_id}/contacts", response_model=list[ContactPublic])
async def group_contacts(group_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[ContactPublic]:
    return await svc.broadcasts.groups.contacts_of(principal, group_id)


@router.post("/{group_id}/members", response_model=MembersChanged)
async def add_members(
    group_id: str, body: MembersChange, principal: CurrentPrincipal, svc: ServicesDep
) -> MembersChanged:
    return await svc.broadcasts.groups.add_members(principal, group_id, body)


@router.post("/{group_id}/members/remove", response_model=MembersChanged)
async def remove_members(
    group_id: str, body: MembersChange, principal: CurrentPrincipal, svc: ServicesDep
) -> MembersChanged:
    return await svc.broadcasts.groups.remove_members(principal, group_id, body)
