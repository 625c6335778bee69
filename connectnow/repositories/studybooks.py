"""Study books, lessons, predefined messages, users' custom messages and selections."""

from __future__ import annotations

from typing import Any

from connectnow.repositories.base import Repository
from models.broadcasts import DeliveryStatus
from models.studybooks import CustomRecord, LessonRecord, PredefinedRecord, SelectionRecord, StudyBookRecord


class StudyBookRepository(Repository[StudyBookRecord]):
    collection_name = "study_books"
    model = StudyBookRecord

    async def raise_total(self, book_id: str, total: int) -> None:
        """The book's lesson count, never lowered by a writer that counted before another's insert."""
        await self.update({"id": book_id}, {"$max": {"totalLessons": total}})


class LessonRepository(Repository[LessonRecord]):
    collection_name = "lessons"
    model = LessonRecord

    async def of_book(self, book_id: str, *, active_only: bool) -> list[LessonRecord]:
        flt: dict[str, object] = {"studyBookId": book_id}
        if active_only:
            flt["isActive"] = True
        return await self.find(flt, sort=[("lessonNumber", 1)])


class PredefinedRepository(Repository[PredefinedRecord]):
    collection_name = "predefined_messages"
    model = PredefinedRecord

    async def of_lesson(self, lesson_id: str, *, active_only: bool) -> list[PredefinedRecord]:
        flt: dict[str, object] = {"lessonId": lesson_id}
        if active_only:
            flt["isActive"] = True
        return await self.find(flt, sort=[("displayOrder", 1), ("createdAt", 1)])


class CustomRepository(Repository[CustomRecord]):
    collection_name = "user_custom_messages"
    model = CustomRecord

    async def owned(self, user_id: str, custom_id: str) -> CustomRecord | None:
        return await self.find_one({"id": custom_id, "userId": user_id})


class SelectionRepository(Repository[SelectionRecord]):
    collection_name = "user_selected_messages"
    model = SelectionRecord

    async def owned(self, user_id: str, selection_id: str) -> SelectionRecord | None:
        return await self.find_one({"id": selection_id, "userId": user_id})

    async def record_unless_cancelled(self, selection_id: str, fields: dict[str, Any]) -> SelectionRecord | None:
        """A delivery's outcome, unless the selection was cancelled meanwhile (None then)."""
        flt = {"id": selection_id, "deliveryStatus": {"$ne": DeliveryStatus.CANCELLED.value}}
        return await self.update(flt, {"$set": fields})
