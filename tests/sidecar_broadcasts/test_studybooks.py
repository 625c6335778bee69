"""Study books on both adapters: admin-only authoring, active/inactive visibility, custom messages, and
selections scheduled, delivered and tracked by the broadcasts scheduler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.identity import Principal
from connectnow.services.broadcasts.wiring import Broadcasts
from models.studybooks import (
    CustomCreate,
    LessonCreate,
    LessonUpdate,
    PredefinedCreate,
    PredefinedUpdate,
    SelectionCreate,
    StudyBookCreate,
    StudyBookUpdate,
)
from tests.sidecar_broadcasts.conftest import MakeUser, RecordingHub
from tests.sidecar_broadcasts.helpers import add_contact, set_webhook
from tests.sidecar_broadcasts.receiver import Receiver


async def _book(bx: Broadcasts, admin: Principal) -> tuple[str, str, str]:
    sb = bx.studybooks
    book = await sb.create_book(admin, StudyBookCreate.model_validate({"title": "Gospel of John", "description": "d"}))
    lesson2 = await sb.create_lesson(admin, book.id, LessonCreate.model_validate({"lessonNumber": 2, "title": "Two"}))
    lesson1 = await sb.create_lesson(admin, book.id, LessonCreate.model_validate({"lessonNumber": 1, "title": "One"}))
    assert lesson2.lesson_number == 2
    for order, kind in ((2, "reminder"), (1, "scripture")):
        await sb.create_predefined(
            admin,
            lesson1.id,
            PredefinedCreate.model_validate({"content": f"{kind} text", "messageType": kind, "displayOrder": order}),
        )
    predefined = await sb.list_predefined(admin, lesson1.id)
    return book.id, lesson1.id, predefined[0].id


async def test_only_admins_author(bx: Broadcasts, make_user: MakeUser) -> None:
    admin, reader = await make_user(admin=True), await make_user()
    book_id, lesson_id, predefined_id = await _book(bx, admin)
    sb = bx.studybooks
    for attempt in (
        sb.create_book(reader, StudyBookCreate.model_validate({"title": "x"})),
        sb.update_book(reader, book_id, StudyBookUpdate.model_validate({"title": "x"})),
        sb.create_lesson(reader, book_id, LessonCreate.model_validate({"lessonNumber": 9, "title": "x"})),
        sb.update_lesson(reader, lesson_id, LessonUpdate.model_validate({"title": "x"})),
        sb.create_predefined(
            reader, lesson_id, PredefinedCreate.model_validate({"content": "x", "messageType": "custom"})
        ),
        sb.update_predefined(reader, predefined_id, PredefinedUpdate.model_validate({"content": "x"})),
    ):
        with pytest.raises(AppError) as caught:
            await attempt
        assert caught.value.code == "ADMIN_REQUIRED"
    books = await sb.list_books(reader)
    assert [(b.title, b.total_lessons) for b in books] == [("Gospel of John", 2)]
    assert [lesson.lesson_number for lesson in await sb.list_lessons(reader, book_id)] == [1, 2]
    assert [p.message_type.value for p in await sb.list_predefined(reader, lesson_id)] == ["scripture", "reminder"]
    with pytest.raises(AppError) as caught:
        await sb.create_lesson(admin, book_id, LessonCreate.model_validate({"lessonNumber": 1, "title": "dup"}))
    assert caught.value.code == "CONFLICT"
    # Inactive content disappears for readers, stays for administrators.
    await sb.update_predefined(admin, predefined_id, PredefinedUpdate.model_validate({"isActive": False}))
    assert len(await sb.list_predefined(reader, lesson_id)) == 1
    assert len(await sb.list_predefined(admin, lesson_id)) == 2
    await sb.update_book(admin, book_id, StudyBookUpdate.model_validate({"isActive": False}))
    assert await sb.list_books(reader) == [] and len(await sb.list_books(admin)) == 1
    with pytest.raises(AppError) as caught:
        await sb.list_lessons(reader, book_id)
    assert caught.value.code == "NOT_FOUND"


def test_study_book_input_shape() -> None:
    for model, bad in (
        (LessonCreate, {"lessonNumber": "1", "title": "x"}),
        (LessonCreate, {"lessonNumber": 0, "title": "x"}),
        (PredefinedCreate, {"content": "x", "messageType": "sermon"}),
        (PredefinedCreate, {"content": "x", "messageType": "custom", "displayOrder": -1}),
        (SelectionCreate, {"lessonId": {"$ne": None}}),
        (CustomCreate, {"content": ""}),
    ):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


async def test_custom_messages_are_private(bx: Broadcasts, make_user: MakeUser) -> None:
    admin, alice, mallory = await make_user(admin=True), await make_user(), await make_user()
    _, lesson_id, _ = await _book(bx, admin)
    sb = bx.studybooks
    mine = await sb.create_custom(alice, lesson_id, CustomCreate.model_validate({"content": "My reflection"}))
    assert [c.id for c in await sb.list_custom(alice, lesson_id)] == [mine.id]
    assert await sb.list_custom(mallory, lesson_id) == []
    for attempt in (
        sb.update_custom(mallory, mine.id, CustomCreate.model_validate({"content": "x"})),
        sb.delete_custom(mallory, mine.id),
        sb.select(mallory, SelectionCreate.model_validate({"lessonId": lesson_id, "customMessageId": mine.id})),
    ):
        with pytest.raises(AppError) as caught:
            await attempt
        assert caught.value.code == "NOT_FOUND"
    edited = await sb.update_custom(alice, mine.id, CustomCreate.model_validate({"content": "Edited"}))
    assert edited.content == "Edited" and edited.last_modified >= mine.last_modified


async def test_selection_is_scheduled_delivered_and_tracked(
    bx: Broadcasts, make_user: MakeUser, receiver: Receiver, hub: RecordingHub
) -> None:
    admin, alice = await make_user(admin=True), await make_user()
    _, lesson_id, predefined_id = await _book(bx, admin)
    cid = await add_contact(bx, alice, "Ann", "+12025550140")
    await set_webhook(bx, alice, receiver.url("/ok"))
    sb = bx.studybooks
    body = {
        "lessonId": lesson_id,
        "predefinedMessageId": predefined_id,
        "scheduledAt": (utcnow() + timedelta(hours=1)).isoformat(),
        "target": {"kind": "contact", "contactId": cid},
    }
    selection = await sb.select(alice, SelectionCreate.model_validate(body))
    assert selection.is_scheduled and selection.delivery_status is not None
    assert selection.delivery_status.value == "pending" and selection.content == "scripture text"
    past = await sb.select(alice, SelectionCreate.model_validate(body))  # a second one, cancelled below
    await bx.schedule.deliveries.update_many(
        {"sourceId": selection.id}, {"$set": {"dueAt": utcnow(), "scheduledFor": utcnow()}}
    )
    assert await bx.engine.worker.run_once() == 1
    [tracked] = [s for s in await sb.list_selections(alice, lesson_id) if s.id == selection.id]
    assert tracked.delivery_status is not None and tracked.delivery_status.value == "sent"
    assert tracked.delivery_attempts == 1 and tracked.actual_delivery_time and tracked.last_delivery_attempt
    assert [r.json["text"] for r in receiver.answered] == ["scripture text"]
    assert any(e == "studybook:delivery" and to == f"user:{alice.user_id}" for e, _, to in hub.emitted)
    with pytest.raises(AppError) as caught:
        await sb.cancel_selection(alice, selection.id)
    assert caught.value.code == "SCHEDULE_ALREADY_SENT"
    cancelled = await sb.cancel_selection(alice, past.id)
    assert cancelled.delivery_status is not None and cancelled.delivery_status.value == "cancelled"
    assert (await sb.cancel_selection(alice, past.id)).delivery_status == cancelled.delivery_status  # twice: harmless
    await bx.schedule.deliveries.update_many({"sourceId": past.id}, {"$set": {"dueAt": utcnow()}})
    assert await bx.engine.worker.run_once() == 0


async def test_selection_refusals(bx: Broadcasts, make_user: MakeUser) -> None:
    admin, alice = await make_user(admin=True), await make_user()
    _, lesson_id, predefined_id = await _book(bx, admin)
    cid = await add_contact(bx, alice, "Ann", "+12025550140")
    sb = bx.studybooks
    base = {"lessonId": lesson_id, "predefinedMessageId": predefined_id}
    cases = [
        ({"lessonId": lesson_id}, "BROADCAST_CONTENT_INVALID"),
        ({**base, "scheduledAt": (utcnow() + timedelta(hours=1)).isoformat()}, "VALIDATION_FAILED"),
        (
            {
                **base,
                "scheduledAt": (utcnow() - timedelta(hours=1)).isoformat(),
                "target": {"kind": "contact", "contactId": cid},
            },
            "SCHEDULE_IN_PAST",
        ),
        (
            {
                **base,
                "scheduledAt": (utcnow() + timedelta(hours=1)).isoformat(),
                "target": {"kind": "contact", "contactId": cid},
            },
            "WEBHOOK_NOT_CONFIGURED",
        ),
        ({"lessonId": "0" * 24, "predefinedMessageId": predefined_id}, "NOT_FOUND"),
    ]
    for body, expected in cases:
        with pytest.raises(AppError) as caught:
            await sb.select(alice, SelectionCreate.model_validate(body))
        assert caught.value.code == expected, body
    assert await sb.selections.count({}) == 0
    unscheduled = await sb.select(alice, SelectionCreate.model_validate(base))
    with pytest.raises(AppError) as caught:
        await sb.cancel_selection(alice, unscheduled.id)
    assert caught.value.code == "SCHEDULE_NOT_PENDING"
