"""In-app delivery into a channel through the real chat core, on both adapters: exactly one stored and
fanned-out message per delivery, even when a worker dies after posting and another takes the lease over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from connectnow.clock import utcnow
from connectnow.config import Settings
from connectnow.errors import AppError
from connectnow.identity import Principal
from connectnow.node import Services
from connectnow.realtime.hub import to_wire
from connectnow.services.broadcasts.in_app import ChatCorePoster
from connectnow.services.broadcasts.wiring import Broadcasts, build_broadcasts
from connectnow.services.leases import worker_identity
from connectnow.store.port import DocumentStore
from models.broadcasts import ScheduleStatus, TargetKind
from models.channels import ChannelCreate
from models.workspaces import WorkspaceCreate
from tests.sidecar_broadcasts.conftest import MakeUser, RecordingHub
from tests.sidecar_broadcasts.helpers import drain, make_due, schedule_input
from tests.support.services import built_services, unlimited


@pytest.fixture
async def chat_bx(
    store: DocumentStore, bx_settings: Settings, hub: RecordingHub
) -> AsyncIterator[tuple[Services, Broadcasts]]:
    async with built_services(store, bx_settings, hub, limiter=unlimited()) as services:
        yield services, services.broadcasts


async def _channel(services: Services, owner: Principal) -> str:
    workspace = await services.workspaces.create(owner, WorkspaceCreate.model_validate({"name": "Team"}))
    channels = await services.channels.visible(owner, workspace.id)
    return str(channels[0].id)


async def _messages(store: DocumentStore, channel_id: str, text: str) -> int:
    return await store.collection("messages").count({"channelId": channel_id, "content": text})


async def test_channel_delivery_posts_one_real_message(
    chat_bx: tuple[Services, Broadcasts], make_user: MakeUser, store: DocumentStore, hub: RecordingHub
) -> None:
    services, bx = chat_bx
    alice, mallory = await make_user(), await make_user()
    channel = await _channel(services, alice)
    target = {"kind": "channel", "channelId": channel}
    with pytest.raises(AppError) as caught:
        await bx.schedule.create(mallory, schedule_input(target, message="spam"))
    assert caught.value.code in ("NOT_FOUND", "NOT_A_MEMBER")
    created = await bx.schedule.create(alice, schedule_input(target, message="weekly sync in 10 minutes"))
    await make_due(bx, created.id)
    done = await drain(bx, alice, created.id)
    assert done.status is ScheduleStatus.SENT
    assert await _messages(store, channel, "weekly sync in 10 minutes") == 1
    fanned = [to_wire(d) for e, d, room in hub.emitted if e == "message:new" and room == f"channel:{channel}"]
    assert [d["message"]["content"] for d in fanned] == ["weekly sync in 10 minutes"]


async def test_worker_dying_after_posting_does_not_post_twice(
    chat_bx: tuple[Services, Broadcasts],
    make_user: MakeUser,
    store: DocumentStore,
    bx_settings: Settings,
    hub: RecordingHub,
) -> None:
    services, bx = chat_bx
    alice = await make_user()
    channel = await _channel(services, alice)
    created = await bx.schedule.create(alice, schedule_input({"kind": "channel", "channelId": channel}, message="once"))
    await make_due(bx, created.id)
    dead = worker_identity()
    claimed = await bx.engine.queue.claim(dead)
    assert claimed is not None
    # The dead worker got as far as posting, then died before recording the outcome.
    poster = ChatCorePoster(store, services.messages, None)
    await poster.post_scheduled(alice.user_id, TargetKind.CHANNEL, channel, "once", claimed["id"])
    await asyncio.sleep(bx_settings.broadcast_lease_seconds + 0.1)
    second = build_broadcasts(store, bx_settings, hub, poster=poster)
    try:
        # Two schedulers race for the expired lease.
        await asyncio.gather(bx.engine.worker.run_once(), second.engine.worker.run_once())
    finally:
        await second.client.aclose()
    assert (await bx.schedule.get(alice, created.id)).status is ScheduleStatus.SENT
    assert await _messages(store, channel, "once") == 1
    [delivery] = await bx.schedule.deliveries_of(alice, created.id)
    assert delivery.delivery_attempts == 2


async def test_losing_the_channel_fails_the_delivery(
    chat_bx: tuple[Services, Broadcasts], make_user: MakeUser, store: DocumentStore
) -> None:
    services, bx = chat_bx
    alice = await make_user()
    general = await _channel(services, alice)
    workspace_id = (await services.channels.get(alice, general)).workspace_id
    extra = await services.channels.create(
        alice, ChannelCreate.model_validate({"workspaceId": workspace_id, "name": "announcements"})
    )
    channel = extra.id
    created = await bx.schedule.create(alice, schedule_input({"kind": "channel", "channelId": channel}, message="x"))
    await services.channels.set_archived(alice, channel, True)
    await make_due(bx, created.id)
    done = await drain(bx, alice, created.id)
    assert done.status is ScheduleStatus.FAILED and (done.delivery_error or "").startswith("CHANNEL_ARCHIVED")
    assert await _messages(store, channel, "x") == 0


async def test_study_book_selection_is_posted_in_the_channel(
    chat_bx: tuple[Services, Broadcasts], make_user: MakeUser, store: DocumentStore
) -> None:
    from models.studybooks import LessonCreate, PredefinedCreate, SelectionCreate, StudyBookCreate

    services, bx = chat_bx
    admin, alice = await make_user(admin=True), await make_user()
    sb = bx.studybooks
    book = await sb.create_book(admin, StudyBookCreate.model_validate({"title": "Proverbs"}))
    lesson = await sb.create_lesson(admin, book.id, LessonCreate.model_validate({"lessonNumber": 1, "title": "One"}))
    verse = await sb.create_predefined(
        admin, lesson.id, PredefinedCreate.model_validate({"content": "Proverbs 3:5", "messageType": "scripture"})
    )
    channel = await _channel(services, alice)
    body = {
        "lessonId": lesson.id,
        "predefinedMessageId": verse.id,
        "scheduledAt": "2030-01-01T08:00:00",
        "timeZone": "Europe/Paris",
        "target": {"kind": "channel", "channelId": channel},
    }
    with pytest.raises(AppError) as caught:
        await sb.select(alice, SelectionCreate.model_validate(body))
    assert caught.value.code == "SCHEDULE_BEYOND_HORIZON"
    body["scheduledAt"] = (utcnow() + timedelta(hours=1)).isoformat()
    del body["timeZone"]
    selection = await sb.select(alice, SelectionCreate.model_validate(body))
    now = utcnow()
    await bx.schedule.deliveries.update_many({"sourceId": selection.id}, {"$set": {"dueAt": now, "scheduledFor": now}})
    assert await bx.engine.worker.run_once() == 1
    [tracked] = await sb.list_selections(alice, lesson.id)
    assert tracked.delivery_status is not None and tracked.delivery_status.value == "sent"
    assert await _messages(store, channel, "Proverbs 3:5") == 1
