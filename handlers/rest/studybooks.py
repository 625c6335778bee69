"""Study books: administrators manage books, lessons and predefined messages; users read active content,
write custom messages and select (and schedule) one per lesson. Documented in docs/SIDECAR-BROADCASTS.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from handlers.rest.deps import CurrentPrincipal, ServicesDep
from models.base import IdStr
from models.broadcasts import DeliveryStatus
from models.studybooks import (
    CustomCreate,
    CustomPublic,
    LessonCreate,
    LessonPublic,
    LessonUpdate,
    PredefinedCreate,
    PredefinedPublic,
    PredefinedUpdate,
    SelectionCreate,
    SelectionPublic,
    StudyBookCreate,
    StudyBookPublic,
    StudyBookUpdate,
)

router = APIRouter(tags=["study books"])
CREATED = status.HTTP_201_CREATED


@router.get("/studybooks", response_model=list[StudyBookPublic])
async def list_books(principal: CurrentPrincipal, svc: ServicesDep) -> list[StudyBookPublic]:
    return await svc.broadcasts.studybooks.list_books(principal)


@router.post("/studybooks", status_code=CREATED, response_model=StudyBookPublic)
async def create_book(body: StudyBookCreate, principal: CurrentPrincipal, svc: ServicesDep) -> StudyBookPublic:
    return await svc.broadcasts.studybooks.create_book(principal, body)


@router.patch("/studybooks/{book_id}", response_model=StudyBookPublic)
async def update_book(
    book_id: str, body: StudyBookUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> StudyBookPublic:
    return await svc.broadcasts.studybooks.update_book(principal, book_id, body)


@router.get("/studybooks/{book_id}/lessons", response_model=list[LessonPublic])
async def list_lessons(book_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[LessonPublic]:
    return await svc.broadcasts.studybooks.list_lessons(principal, book_id)


@router.post("/studybooks/{book_id}/lessons", status_code=CREATED, response_model=LessonPublic)
async def create_lesson(
    book_id: str, body: LessonCreate, principal: CurrentPrincipal, svc: ServicesDep
) -> LessonPublic:
    return await svc.broadcasts.studybooks.create_lesson(principal, book_id, body)


@router.patch("/lessons/{lesson_id}", response_model=LessonPublic)
async def update_lesson(
    lesson_id: str, body: LessonUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> LessonPublic:
    return await svc.broadcasts.studybooks.update_lesson(principal, lesson_id, body)


@router.get("/lessons/{lesson_id}/predefined", response_model=list[PredefinedPublic])
async def list_predefined(lesson_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[PredefinedPublic]:
    return await svc.broadcasts.studybooks.list_predefined(principal, lesson_id)


@router.post("/lessons/{lesson_id}/predefined", status_code=CREATED, response_model=PredefinedPublic)
async def create_predefined(
    lesson_id: str, body: PredefinedCreate, principal: CurrentPrincipal, svc: ServicesDep
) -> PredefinedPublic:
    return await svc.broadcasts.studybooks.create_predefined(principal, lesson_id, body)


@router.patch("/predefined/{predefined_id}", response_model=PredefinedPublic)
async def update_predefined(
    predefined_id: str, body: PredefinedUpdate, principal: CurrentPrincipal, svc: ServicesDep
) -> PredefinedPublic:
    return await svc.broadcasts.studybooks.update_predefined(principal, predefined_id, body)


@router.get("/lessons/{lesson_id}/custom", response_model=list[CustomPublic])
async def list_custom(lesson_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> list[CustomPublic]:
    return await svc.broadcasts.studybooks.list_custom(principal, lesson_id)


@router.post("/lessons/{lesson_id}/custom", status_code=CREATED, response_model=CustomPublic)
async def create_custom(
    lesson_id: str, body: CustomCreate, principal: CurrentPrincipal, svc: ServicesDep
) -> CustomPublic:
    return await svc.broadcasts.studybooks.create_custom(principal, lesson_id, body)


@router.patch("/custom-messages/{custom_id}", response_model=CustomPublic)
async def update_custom(
    custom_id: str, body: CustomCreate, principal: CurrentPrincipal, svc: ServicesDep
) -> CustomPublic:
    return await svc.broadcasts.studybooks.update_custom(principal, custom_id, body)


@router.delete("/custom-messages/{custom_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_custom(custom_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> Response:
    await svc.broadcasts.studybooks.delete_custom(principal, custom_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/studybook-selections", status_code=CREATED, response_model=SelectionPublic)
async def select(body: SelectionCreate, principal: CurrentPrincipal, svc: ServicesDep) -> SelectionPublic:
    return await svc.broadcasts.studybooks.select(principal, body)


@router.get("/studybook-selections", response_model=list[SelectionPublic])
async def list_selections(
    principal: CurrentPrincipal,
    svc: ServicesDep,
    lesson_id: Annotated[IdStr | None, Query(alias="lessonId")] = None,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="deliveryStatus")] = None,
) -> list[SelectionPublic]:
    """Mine, newest first; `deliveryStatus` keeps those whose delivery is pending, sent, failed or cancelled."""
    return await svc.broadcasts.studybooks.list_selections(principal, lesson_id, delivery_status)


@router.post("/studybook-selections/{selection_id}/cancel", response_model=SelectionPublic)
async def cancel_selection(selection_id: str, principal: CurrentPrincipal, svc: ServicesDep) -> SelectionPublic:
    return await svc.broadcasts.studybooks.cancel_selection(principal, selection_id)
