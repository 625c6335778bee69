"""Scheduling sidecar: intake forms and their encrypted responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from handlers.rest.bookings import ERROR_RESPONSES, ActorDep, SchedulingDep
from models.scheduling_forms import FormCreate, FormPublic, FormResponseCreate, FormResponsePublic, FormUpdate

router = APIRouter(prefix="/scheduling", tags=["scheduling forms"], responses=ERROR_RESPONSES)


@router.post("/forms", status_code=status.HTTP_201_CREATED, response_model=FormPublic)
async def create_form(body: FormCreate, actor: ActorDep, sch: SchedulingDep) -> FormPublic:
    return await sch.forms.create(actor, body)


@router.get("/forms", response_model=list[FormPublic])
async def list_forms(
    actor: ActorDep,
    sch: SchedulingDep,
    user_id: Annotated[str | None, Query(alias="userId", max_length=64)] = None,
    event_type_id: Annotated[int | None, Query(alias="eventTypeId", ge=0)] = None,
) -> list[FormPublic]:
    """A host's forms (yours by default), e.g. to find the one for an event type before booking."""
    return await sch.forms.list_for(user_id or actor.user_id, event_type_id)


@router.get("/forms/{form_id}", response_model=FormPublic)
async def get_form(form_id: str, _: ActorDep, sch: SchedulingDep) -> FormPublic:
    return await sch.forms.get(form_id)


@router.patch("/forms/{form_id}", response_model=FormPublic)
async def update_form(form_id: str, body: FormUpdate, actor: ActorDep, sch: SchedulingDep) -> FormPublic:
    return await sch.forms.update(actor, form_id, body)


@router.post("/forms/{form_id}/responses", status_code=status.HTTP_201_CREATED, response_model=FormResponsePublic)
async def submit_response(
    form_id: str, body: FormResponseCreate, actor: ActorDep, sch: SchedulingDep
) -> FormResponsePublic:
    """Answer a form for one of your bookings; validated against the schema and its conditional rules."""
    return await sch.forms.submit(actor, form_id, body)


@router.get("/forms/{form_id}/responses", response_model=list[FormResponsePublic])
async def list_responses(
    form_id: str, actor: ActorDep, sch: SchedulingDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[FormResponsePublic]:
    return await sch.forms.list_responses(actor, form_id, limit=limit)


@router.get("/forms/{form_id}/analytics")
async def form_analytics(form_id: str, actor: ActorDep, sch: SchedulingDep) -> list[dict[str, Any]]:
    """The redacted copies of the responses: answered fields and values marked x-analytics."""
    return await sch.forms.analytics(actor, form_id)


@router.get("/form-responses/{response_id}", response_model=FormResponsePublic)
async def get_response(response_id: str, actor: ActorDep, sch: SchedulingDep) -> FormResponsePublic:
    return await sch.forms.read_response(actor, response_id)
