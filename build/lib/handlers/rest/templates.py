"""Message templates with `{{placeholder}}` fields. Documented in docs/SIDECAR-BROADCASTS.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.contacts import TemplateCreate, TemplatePublic, TemplateUpdate

router = APIRouter(prefix="/templates", tags=["message templates"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TemplatePublic)
async def create_template(body: TemplateCreate, principal: CurrentPrincipal, svc: ServicesDep) -> TemplatePublic:
    return await svc.broadcasts.templates.create(principal, body)


@router.get("", response_model=list[TemplatePublic])
async def list_templates(
    principal: CurrentPrincipal, svc: ServicesDep, category: Annotated[str | None, Query(max_length=60)] = None
) -> list[TemplatePublic]:
    return await svc.broadcasts.templates.list_templates(principal, category)


@router.get("/{template_id}", response_model=TemplatePublic)
async def get_template(template_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> TemplatePublic:
    return await svc.broadcasts.templates.get(principal, template_id)


@router.patch("/{template_id}", response_model=TemplatePublic)
async def update_template(
    template_id: str, body: TemplateUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> TemplatePublic:
    return await svc.broadcasts.templates.update(principal, template_id, body)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(template_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.broadcasts.templates.delete(principal, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
