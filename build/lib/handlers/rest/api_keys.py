"""Bot API keys: create (raw key shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyCreate, principal: CurrentPrincipal, svc: ServicesDep) -> ApiKeyCreated:
    return await svc.api_keys.create(principal, body)


@router.get("", response_model=list[ApiKeyPublic])
async def list_keys(principal: CurrentPrincipal, svc: ServicesDep) -> list[ApiKeyPublic]:
    return await svc.api_keys.list(principal)


@router.delete("/{key_id}", response_model=ApiKeyPublic)
async def revoke_key(key_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> ApiKeyPublic:
    return await svc.api_keys.revoke(principal, key_id)
