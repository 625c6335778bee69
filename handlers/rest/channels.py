"""REST mirrors for channels and channel membership."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from handlers.rest.workspaces import JsonBody, OptionalBody, no_content, typed_body, with_path
from models.base import IdStr
from models.channels import (
    ChannelCreate,
    ChannelMemberChange,
    ChannelMemberPublic,
    ChannelMute,
    ChannelPreferences,
    ChannelPublic,
    ChannelRoleChange,
    ChannelUpdate,
)

router = APIRouter(tags=["channels"])


@router.post(
    "/workspaces/{workspace_id}/channels",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelPublic,
    openapi_extra=typed_body(ChannelCreate, "workspaceId"),
)
async def create(workspace_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> ChannelPublic:
    return await svc.channels.create(principal, with_path(ChannelCreate, body, workspaceId=workspace_id))


@router.get("/workspaces/{workspace_id}/channels", response_model=list[ChannelPublic])
async def list_channels(workspace_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[ChannelPublic]:
    return await svc.channels.visible(principal, workspace_id)


@router.get("/channels/{channel_id}", response_model=ChannelPublic)
async def get(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> ChannelPublic:
    return await svc.channels.get(principal, channel_id)


@router.patch(
    "/channels/{channel_id}", response_model=ChannelPublic, openapi_extra=typed_body(ChannelUpdate, "channelId")
)
async def update(channel_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep) -> ChannelPublic:
    return await svc.channels.update(principal, with_path(ChannelUpdate, body, channelId=channel_id))


@router.post("/channels/{channel_id}/archive", response_model=ChannelPublic)
async def archive(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> ChannelPublic:
    return await svc.channels.set_archived(principal, channel_id, True)


@router.post("/channels/{channel_id}/unarchive", response_model=ChannelPublic)
async def unarchive(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> ChannelPublic:
    return await svc.channels.set_archived(principal, channel_id, False)


@router.post("/channels/{channel_id}/join", response_model=ChannelPublic)
async def join(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> ChannelPublic:
    return await svc.channels.join(principal, channel_id)


@router.post("/channels/{channel_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.channels.leave(principal, channel_id)
    return no_content()


@router.get("/channels/{channel_id}/members", response_model=list[ChannelMemberPublic])
async def members(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> list[ChannelMemberPublic]:
    return await svc.channels.members(principal, channel_id)


@router.post(
    "/channels/{channel_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelMemberPublic,
    openapi_extra=typed_body(ChannelMemberChange, "channelId"),
)
async def add_member(
    channel_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep
) -> ChannelMemberPublic:
    return await svc.channels.add_member(principal, with_path(ChannelMemberChange, body, channelId=channel_id))


@router.delete("/channels/{channel_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(channel_id: IdStr, user_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.channels.remove_member(
        principal, ChannelMemberChange.model_validate({"channelId": channel_id, "userId": user_id})
    )
    return no_content()


@router.patch("/channels/{channel_id}/members/{user_id}", response_model=ChannelMemberPublic)
async def set_role(
    channel_id: IdStr, user_id: IdStr, body: JsonBody, principal: CurrentPrincipal, svc: ServicesDep
) -> ChannelMemberPublic:
    return await svc.channels.set_role(
        principal, with_path(ChannelRoleChange, body, channelId=channel_id, userId=user_id)
    )


@router.put(
    "/channels/{channel_id}/mute",
    response_model=ChannelMemberPublic,
    openapi_extra=typed_body(ChannelMute, "channelId", required=False),
)
async def mute(
    channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, body: OptionalBody = None
) -> ChannelMemberPublic:
    return await svc.channels.set_muted(principal, with_path(ChannelMute, body, channelId=channel_id))


@router.patch("/channels/{channel_id}/preferences", response_model=ChannelMemberPublic)
async def preferences(
    channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep, body: OptionalBody = None
) -> ChannelMemberPublic:
    return await svc.channels.set_preferences(principal, with_path(ChannelPreferences, body, channelId=channel_id))


@router.delete("/channels/{channel_id}", status_code=status.HTTP_202_ACCEPTED)
async def delete(channel_id: IdStr, principal: CurrentPrincipal, svc: ServicesDep) -> dict[str, str]:
    return await svc.channel_deletion.request(principal, channel_id)
