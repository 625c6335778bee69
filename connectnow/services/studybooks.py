"""The Study Book System (seed 000): administrators write books, ordered lessons and predefined messages;
users write their own messages per lesson and select one (predefined or custom) to be delivered at a time
they choose, by the same scheduler and transports as scheduled messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectnow import errors
from connectnow.clock import new_id, utcnow
from connectnow.errors import AppError
from connectnow.repositories.base import M, Repository
from connectnow.repositories.broadcasts import DeliveryRepository
from connectnow.repositories.studybooks import (
    CustomRepository,
    LessonRepository,
    PredefinedRepository,
    SelectionRepository,
    StudyBookRepository,
)
from connectnow.services.auth import Principal
from connectnow.services.broadcasts.scheduling import ScheduleService, check_text_for, target_ref
from connectnow.store.port import DocumentStore, DuplicateKeyError
from models.broadcasts import DeliveryStatus, SourceKind
from models.studybooks import (
    CustomCreate,
    CustomPublic,
    CustomRecord,
    LessonCreate,
    LessonPublic,
    LessonRecord,
    LessonUpdate,
    PredefinedCreate,
    PredefinedPublic,
    PredefinedRecord,
    PredefinedUpdate,
    SelectionCreate,
    SelectionPublic,
    SelectionRecord,
    StudyBookCreate,
    StudyBookPublic,
    StudyBookRecord,
    StudyBookUpdate,
)


def require_admin(principal: Principal) -> None:
    if not principal.user.is_admin:
        raise AppError(errors.ADMIN_REQUIRED)


def _changes(data: Any) -> dict[str, Any]:
    return {k: v for k, v in data.model_dump(by_alias=True, exclude_unset=True, mode="json").items() if v is not None}


async def _apply(repo: Repository[M], record_id: str, data: Any, noun: str) -> M:
    """Set the fields the admin sent (an empty update just reads the record); NOT_FOUND names the noun."""
    changes = _changes(data)
    updated = await repo.set_fields(record_id, changes) if changes else await repo.get(record_id)
    if updated is None:
        raise AppError(errors.NOT_FOUND, f"No such {noun}")
    return updated


class StudyBookService:
    def __init__(self, store: DocumentStore, schedule: ScheduleService) -> None:
        self.books = StudyBookRepository(store)
        self.lessons = LessonRepository(store)
        self.predefined = PredefinedRepository(store)
        self.custom = CustomRepository(store)
        self.selections = SelectionRepository(store)
        self.deliveries = DeliveryRepository(store)
        self.schedule = schedule

    # --- reading (everyone sees active content; administrators see everything) ------------------------
    async def book(self, principal: Principal, book_id: str) -> StudyBookRecord:
        book = await self.books.get(book_id)
        if book is None or (not book.is_active and not principal.user.is_admin):
            raise AppError(errors.NOT_FOUND, "No such study book")
        return book

    async def lesson(self, principal: Principal, lesson_id: str) -> LessonRecord:
        lesson = await self.lessons.get(lesson_id)
        if lesson is None:
            raise AppError(errors.NOT_FOUND, "No such lesson")
        await self.book(principal, lesson.study_book_id)
        if not lesson.is_active and not principal.user.is_admin:
            raise AppError(errors.NOT_FOUND, "No such lesson")
        return lesson

    async def list_books(self, principal: Principal) -> list[StudyBookPublic]:
        flt: dict[str, Any] = {} if principal.user.is_admin else {"isActive": True}
        books = await self.books.find(flt, sort=[("title", 1), ("id", 1)])
        return [StudyBookPublic.model_validate(b) for b in books]

    async def list_lessons(self, principal: Principal, book_id: str) -> list[LessonPublic]:
        await self.book(principal, book_id)
        lessons = await self.lessons.of_book(book_id, active_only=not principal.user.is_admin)
        return [LessonPublic.model_validate(lesson) for lesson in lessons]

    async def list_predefined(self, principal: Principal, lesson_id: str) -> list[PredefinedPublic]:
        await self.lesson(principal, lesson_id)
        found = await self.predefined.of_lesson(lesson_id, active_only=not principal.user.is_admin)
        return [PredefinedPublic.model_validate(p) for p in found]

    # --- administration --------------------------------------------------------------------------------
    async def create_book(self, principal: Principal, data: StudyBookCreate) -> StudyBookPublic:
        require_admin(principal)
        book = StudyBookRecord(
            id=new_id(),
            title=data.title,
            description=data.description,
            created_by=principal.user_id,
            created_at=utcnow(),
            is_active=data.is_active,
        )
        await self.books.insert(book)
        return StudyBookPublic.model_validate(book)

    async def update_book(self, principal: Principal, book_id: str, data: StudyBookUpdate) -> StudyBookPublic:
        require_admin(principal)
        return StudyBookPublic.model_validate(await _apply(self.books, book_id, data, "study book"))

    async def create_lesson(self, principal: Principal, book_id: str, data: LessonCreate) -> LessonPublic:
        require_admin(principal)
        await self.book(principal, book_id)
        lesson = LessonRecord(
            id=new_id(),
            study_book_id=book_id,
            lesson_number=data.lesson_number,
            title=data.title,
            description=data.description,
            created_at=utcnow(),
            is_active=data.is_active,
        )
        try:
            await self.lessons.insert(lesson)
        except DuplicateKeyError:
            raise AppError(
                errors.CONFLICT, f"Lesson {data.lesson_number} exists in this book", details={"field": "lessonNumber"}
            ) from None
        total = await self.lessons.count({"studyBookId": book_id})
        await self.books.raise_total(book_id, total)
        return LessonPublic.model_validate(lesson)

    async def update_lesson(self, principal: Principal, lesson_id: str, data: LessonUpdate) -> LessonPublic:
        require_admin(principal)
        return LessonPublic.model_validate(await _apply(self.lessons, lesson_id, data, "lesson"))

    async def create_predefined(self, principal: Principal, lesson_id: str, data: PredefinedCreate) -> PredefinedPublic:
        require_admin(principal)
        await self.lesson(principal, lesson_id)
        record = PredefinedRecord(
            id=new_id(),
            lesson_id=lesson_id,
            content=data.content,
            message_type=data.message_type,
            display_order=data.display_order,
            created_by=principal.user_id,
            created_at=utcnow(),
            is_active=data.is_active,
        )
        await self.predefined.insert(record)
        return PredefinedPublic.model_validate(record)

    async def update_predefined(
        self, principal: Principal, predefined_id: str, data: PredefinedUpdate
    ) -> PredefinedPublic:
        require_admin(principal)
        return PredefinedPublic.model_validate(await _apply(self.predefined, predefined_id, data, "predefined message"))

    # --- users' own messages ----------------------------------------------------------------------------
    async def create_custom(self, principal: Principal, lesson_id: str, data: CustomCreate) -> CustomPublic:
        await self.lesson(principal, lesson_id)
        now = utcnow()
        record = CustomRecord(
            id=new_id(),
            user_id=principal.user_id,
            lesson_id=lesson_id,
            content=data.content,
            created_at=now,
            last_modified=now,
        )
        await self.custom.insert(record)
        return CustomPublic.model_validate(record)

    async def list_custom(self, principal: Principal, lesson_id: str) -> list[CustomPublic]:
        await self.lesson(principal, lesson_id)
        found = await self.custom.find({"userId": principal.user_id, "lessonId": lesson_id}, sort=[("createdAt", 1)])
        return [CustomPublic.model_validate(c) for c in found]

    async def update_custom(self, principal: Principal, custom_id: str, data: CustomCreate) -> CustomPublic:
        updated = await self.custom.set_owned(
            custom_id, principal.user_id, {"content": data.content, "lastModified": utcnow()}
        )
        if updated is None:
            raise AppError(errors.NOT_FOUND, "No such custom message")
        return CustomPublic.model_validate(updated)

    async def delete_custom(self, principal: Principal, custom_id: str) -> None:
        if not await self.custom.delete({"id": custom_id, "userId": principal.user_id}):
            raise AppError(errors.NOT_FOUND, "No such custom message")

    # --- selections ------------------------------------------------------------------------------------
    async def _content(self, principal: Principal, data: SelectionCreate) -> str:
        if (data.predefined_message_id is None) == (data.custom_message_id is None):
            raise AppError(errors.BROADCAST_CONTENT_INVALID, "Select exactly one predefined or custom message")
        if data.predefined_message_id is not None:
            found = await self.predefined.get(data.predefined_message_id)
            if found is None or found.lesson_id != data.lesson_id or not found.is_active:
                raise AppError(errors.NOT_FOUND, "No such predefined message in this lesson")
            return found.content
        assert data.custom_message_id is not None
        custom = await self.custom.owned(principal.user_id, data.custom_message_id)
        if custom is None or custom.lesson_id != data.lesson_id:
            raise AppError(errors.NOT_FOUND, "No such custom message in this lesson")
        return custom.content

    async def select(self, principal: Principal, data: SelectionCreate) -> SelectionPublic:
        await self.lesson(principal, data.lesson_id)
        content = await self._content(principal, data)
        if (data.scheduled_at is None) != (data.target is None):
            raise AppError(errors.VALIDATION_FAILED, "Give both scheduledAt and target to schedule, or neither")
        when: datetime | None = None
        recipients = []
        target = target_ref(data.target) if data.target is not None else None
        if data.scheduled_at is not None and target is not None:
            when = self.schedule.when(data.scheduled_at, data.time_zone)
            check_text_for(target, content)
            recipients = await self.schedule.resolver.recipients(principal, target)
            if len(recipients) != 1:
                raise AppError(errors.VALIDATION_FAILED, "A study-book message goes to one contact, channel or chat")
        record = SelectionRecord(
            id=new_id(),
            user_id=principal.user_id,
            lesson_id=data.lesson_id,
            predefined_message_id=data.predefined_message_id,
            custom_message_id=data.custom_message_id,
            content=content,
            target=target,
            scheduled_at=when,
            time_zone=data.time_zone if when else None,
            is_scheduled=when is not None,
            created_at=utcnow(),
            delivery_status=DeliveryStatus.PENDING if when else None,
        )
        await self.selections.insert(record)
        if when is not None:
            await self.schedule.enqueue(principal.user_id, SourceKind.SELECTION, record.id, recipients, when)
        return SelectionPublic.model_validate(record)

    async def list_selections(
        self, principal: Principal, lesson_id: str | None, delivery_status: DeliveryStatus | None = None
    ) -> list[SelectionPublic]:
        flt: dict[str, Any] = {"userId": principal.user_id}
        if lesson_id:
            flt["lessonId"] = lesson_id
        if delivery_status is not None:
            flt["deliveryStatus"] = delivery_status.value
        found = await self.selections.find(flt, sort=[("createdAt", -1), ("id", -1)], limit=500)
        return [SelectionPublic.model_validate(s) for s in found]

    async def cancel_selection(self, principal: Principal, selection_id: str) -> SelectionPublic:
        """Cancelling twice is harmless; a selection whose delivery started or ended is refused."""
        selection = await self.selections.owned(principal.user_id, selection_id)
        if selection is None:
            raise AppError(errors.NOT_FOUND, "No such selection")
        if selection.delivery_status is DeliveryStatus.CANCELLED:
            return SelectionPublic.model_validate(selection)
        if selection.delivery_status is None:
            raise AppError(errors.SCHEDULE_NOT_PENDING, "This selection is not scheduled")
        # The delivery decides: once claimed (sending) it can no longer be cancelled.
        if not await self.deliveries.cancel_pending(selection.id):
            raise AppError(errors.SCHEDULE_ALREADY_SENT, details={"status": selection.delivery_status.value})
        updated = await self.selections.set_fields(selection.id, {"deliveryStatus": DeliveryStatus.CANCELLED.value})
        assert updated is not None
        return SelectionPublic.model_validate(updated)
