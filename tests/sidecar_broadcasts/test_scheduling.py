"""Scheduling rules on both adapters: times and time zones, targets, quota, edit, cancel, list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.broadcasts.timing import resolve_instant
from connectnow.services.broadcasts.wiring import Broadcasts
from models.broadcasts import ScheduledCreate, ScheduledUpdate, ScheduleStatus, TargetKind
from models.contacts import TemplateCreate
from tests.sidecar_broadcasts.conftest import MakeUser, RecordingHub
from tests.sidecar_broadcasts.helpers import (
    add_contact,
    add_group,
    drain,
    make_due,
    schedule_input,
    set_webhook,
    soon,
)


def test_local_times_resolve_with_their_zone() -> None:
    assert resolve_instant(datetime(2026, 7, 1, 9, 0), "Europe/Paris") == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert resolve_instant(datetime(2026, 12, 1, 9, 0), "America/New_York") == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    # The autumn overlap: 02:30 happens twice in Paris on 2026-10-25; the first one (CEST, UTC+2) is meant.
    assert resolve_instant(datetime(2026, 10, 25, 2, 30), "Europe/Paris") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    aware = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert resolve_instant(aware, None) == aware


@pytest.mark.parametrize(
    ("when", "zone", "code"),
    [
        (datetime(2026, 3, 29, 2, 30), "Europe/Paris", "SCHEDULE_NONEXISTENT_TIME"),
        (datetime(2026, 3, 8, 2, 15), "America/New_York", "SCHEDULE_NONEXISTENT_TIME"),
        (datetime(2026, 7, 1, 9, 0), "Mars/Olympus_Mons", "TIMEZONE_UNKNOWN"),
        (datetime(2026, 7, 1, 9, 0), "../../etc/passwd", "TIMEZONE_UNKNOWN"),
        (datetime(2026, 7, 1, 9, 0), None, "SCHEDULE_TIME_ZONE_REQUIRED"),
    ],
)
def test_bad_local_times_are_refused(when: datetime, zone: str | None, code: str) -> None:
    with pytest.raises(AppError) as caught:
        resolve_instant(when, zone)
    assert caught.value.code == code


async def test_time_window_and_zone_errors(bx: Broadcasts, make_user: MakeUser, receiver: object) -> None:
    alice = await make_user()
    cid = await add_contact(bx, alice, "Bob", "+12025550143")
    await set_webhook(bx, alice, "http://127.0.0.1:9/hook")
    target = {"kind": "contact", "contactId": cid}
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    beyond = (utcnow() + timedelta(days=121)).isoformat()
    naive = (utcnow() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    cases = [
        (schedule_input(target, past), "SCHEDULE_IN_PAST"),
        (schedule_input(target, beyond), "SCHEDULE_BEYOND_HORIZON"),
        (schedule_input(target, naive), "SCHEDULE_TIME_ZONE_REQUIRED"),
        (schedule_input(target, naive, timeZone="Nowhere/Land"), "TIMEZONE_UNKNOWN"),
        (schedule_input(target, "2026-03-29T02:30:00", timeZone="Europe/Paris"), "SCHEDULE_NONEXISTENT_TIME"),
        (schedule_input(target, soon(), message="Hi {{nmae}}"), "TEMPLATE_UNKNOWN_PLACEHOLDER"),
        (schedule_input(target, soon(), templateId="0" * 24), "NOT_FOUND"),
        (schedule_input(target, soon(), message=None, templateId=None), "BROADCAST_CONTENT_INVALID"),
    ]
    for data, code in cases:
        with pytest.raises(AppError) as caught:
            await bx.schedule.create(alice, data)
        assert caught.value.code == code, data
    assert await bx.schedule.scheduled.count({}) == 0 and await bx.schedule.deliveries.count({}) == 0
    ok = await bx.schedule.create(alice, schedule_input(target, naive, timeZone="Asia/Tokyo"))
    assert ok.time_zone == "Asia/Tokyo" and ok.scheduled_for.tzinfo is not None


def test_schedule_input_shape() -> None:
    base = {"target": {"kind": "contact", "contactId": "0" * 24}, "scheduledFor": soon(), "message": "x"}
    for bad in (
        {**base, "target": {"kind": "contact", "contactId": {"$ne": None}}},
        {**base, "target": {"kind": "fax", "number": "1"}},
        {**base, "scheduledFor": {"$gt": ""}},
        {**base, "scheduledFor": "tomorrow"},
        {**base, "message": "x" * 4001},
        {**base, "message": "nul\x00byte"},
        {**base, "status": "sent"},
        {**base, "timeZone": "x" * 65},
    ):
        with pytest.raises(ValidationError):
            ScheduledCreate.model_validate(bad)


async def test_targets_must_be_the_users_own(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    cid = await add_contact(bx, alice, "Bob", "+12025550143")
    gid = await add_group(bx, alice, [cid])
    empty = await add_group(bx, alice, [])
    with pytest.raises(AppError) as caught:
        await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": cid}))
    assert caught.value.code == "WEBHOOK_NOT_CONFIGURED"
    await set_webhook(bx, alice, "http://127.0.0.1:9/hook")
    await set_webhook(bx, mallory, "http://127.0.0.1:9/hook")
    for who, target, code in (
        (mallory, {"kind": "contact", "contactId": cid}, "NOT_FOUND"),
        (mallory, {"kind": "group", "groupId": gid}, "NOT_FOUND"),
        (alice, {"kind": "group", "groupId": empty}, "GROUP_EMPTY"),
        (alice, {"kind": "channel", "channelId": "0" * 24}, "PLACEHOLDER_NEEDS_CONTACT"),
    ):
        with pytest.raises(AppError) as caught:
            await bx.schedule.create(who, schedule_input(target))
        assert caught.value.code == code
    assert await bx.schedule.scheduled.count({}) == 0


async def test_group_gets_one_delivery_per_member(bx: Broadcasts, make_user: MakeUser, hub: RecordingHub) -> None:
    alice = await make_user()
    ids = [await add_contact(bx, alice, f"P{i}", f"+1202555014{i}") for i in range(3)]
    gid = await add_group(bx, alice, ids)
    await set_webhook(bx, alice, "http://127.0.0.1:9/hook")
    created = await bx.schedule.create(alice, schedule_input({"kind": "group", "groupId": gid}, category="news"))
    assert created.recipients == 3 and created.status is ScheduleStatus.PENDING
    deliveries = await bx.schedule.deliveries_of(alice, created.id)
    assert sorted(d.target.id for d in deliveries) == sorted(ids)
    assert all(d.status.value == "pending" and d.delivery_attempts == 0 for d in deliveries)
    assert ("broadcast:status", created, f"user:{alice.user_id}") in hub.emitted


async def test_edit_and_cancel_while_pending(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    cid = await add_contact(bx, alice, "Bob", "+12025550143")
    await set_webhook(bx, alice, "http://127.0.0.1:9/hook")
    template = await bx.templates.create(
        alice, TemplateCreate.model_validate({"name": "T", "content": "Dear {{name}}"})
    )
    created = await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": cid}))
    later = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    edited = await bx.schedule.update(
        alice,
        created.id,
        ScheduledUpdate.model_validate({"scheduledFor": later.isoformat(), "templateId": template.id}),
    )
    assert edited.scheduled_for == later and edited.message == "Dear {{name}}" and edited.template_id == template.id
    assert [d.due_at for d in await bx.schedule.deliveries_of(alice, created.id)] == [later]
    with pytest.raises(AppError) as caught:
        await bx.schedule.update(
            alice, created.id, ScheduledUpdate.model_validate({"scheduledFor": utcnow().isoformat()})
        )
    assert caught.value.code == "SCHEDULE_IN_PAST"
    with pytest.raises(AppError) as caught:
        await bx.schedule.update(alice, created.id, ScheduledUpdate.model_validate({"timeZone": "Europe/Paris"}))
    assert caught.value.code == "VALIDATION_FAILED"
    for attempt in (
        bx.schedule.cancel(mallory, created.id),
        bx.schedule.update(mallory, created.id, ScheduledUpdate.model_validate({"message": "x"})),
        bx.schedule.deliveries_of(mallory, created.id),
    ):
        with pytest.raises(AppError) as caught:
            await attempt
        assert caught.value.code == "NOT_FOUND"
    cancelled = await bx.schedule.cancel(alice, created.id)
    assert cancelled.status is ScheduleStatus.CANCELLED
    assert (await bx.schedule.cancel(alice, created.id)).status is ScheduleStatus.CANCELLED  # harmless twice
    assert [d.status.value for d in await bx.schedule.deliveries_of(alice, created.id)] == ["cancelled"]
    with pytest.raises(AppError) as caught:
        await bx.schedule.update(alice, created.id, ScheduledUpdate.model_validate({"message": "x"}))
    assert caught.value.code == "SCHEDULE_NOT_PENDING"
    await make_due(bx, created.id)
    assert await bx.engine.worker.run_once() == 0  # nothing is sent for a cancelled message


async def test_cancelling_a_sent_message_is_refused(bx: Broadcasts, make_user: MakeUser, receiver: object) -> None:
    from tests.sidecar_broadcasts.receiver import Receiver

    assert isinstance(receiver, Receiver)
    alice = await make_user()
    cid = await add_contact(bx, alice, "Bob", "+12025550143")
    await set_webhook(bx, alice, receiver.url("/ok"))
    created = await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": cid}))
    await make_due(bx, created.id)
    assert (await drain(bx, alice, created.id)).status is ScheduleStatus.SENT
    with pytest.raises(AppError) as caught:
        await bx.schedule.cancel(alice, created.id)
    assert caught.value.code == "SCHEDULE_ALREADY_SENT"


async def test_quota_per_target(bx: Broadcasts, make_user: MakeUser) -> None:
    alice = await make_user()
    bx.schedule.settings.broadcast_target_quota = 2
    a = await add_contact(bx, alice, "A", "+12025550140")
    b = await add_contact(bx, alice, "B", "+12025550141")
    await set_webhook(bx, alice, "http://127.0.0.1:9/hook")
    first = await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a}))
    await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a}))
    with pytest.raises(AppError) as caught:
        await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a}))
    assert caught.value.code == "SCHEDULE_QUOTA_EXCEEDED" and caught.value.details == {"quota": 2}
    await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": b}))  # another target
    await bx.schedule.cancel(alice, first.id)  # cancelled ones do not count
    await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a}))


async def test_list_filters(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    a = await add_contact(bx, alice, "A", "+12025550140")
    b = await add_contact(bx, alice, "B", "+12025550141")
    await set_webhook(bx, alice, "http://127.0.0.1:9/hook")
    s1 = await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a}, soon(3600)))
    s2 = await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": b}, soon(7200)))
    s3 = await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a}, soon(10800)))
    await bx.schedule.cancel(alice, s3.id)
    everything = await bx.schedule.list_scheduled(alice)
    assert [s.id for s in everything.items] == [s1.id, s2.id, s3.id] and everything.total == 3
    pending = await bx.schedule.list_scheduled(alice, status=ScheduleStatus.PENDING)
    assert [s.id for s in pending.items] == [s1.id, s2.id]
    window = await bx.schedule.list_scheduled(
        alice, start=utcnow() + timedelta(minutes=90), end=utcnow() + timedelta(minutes=150)
    )
    assert [s.id for s in window.items] == [s2.id]
    to_a = await bx.schedule.list_scheduled(alice, target_kind=TargetKind.CONTACT, target_id=a)
    assert [s.id for s in to_a.items] == [s1.id, s3.id]
    paged = await bx.schedule.list_scheduled(alice, limit=2)
    assert paged.next_offset == 2 and len(paged.items) == 2
    assert (await bx.schedule.list_scheduled(mallory)).total == 0


async def test_replayed_schedule_request_creates_one_message(bx: Broadcasts, make_user: MakeUser) -> None:
    alice, bob = await make_user(), await make_user()
    for who in (alice, bob):
        await set_webhook(bx, who, "http://127.0.0.1:9/hook")
    a = await add_contact(bx, alice, "A", "+12025550140")
    b = await add_contact(bx, bob, "B", "+12025550140")
    data = schedule_input({"kind": "contact", "contactId": a}, clientRequestId="req-1")
    first = await bx.schedule.create(alice, data)
    again = await bx.schedule.create(alice, data)
    assert again.id == first.id
    assert await bx.schedule.scheduled.count({"userId": alice.user_id}) == 1
    assert await bx.schedule.deliveries.count({"sourceId": first.id}) == 1
    # Keys are per user: bob's "req-1" is his own request.
    theirs = await bx.schedule.create(bob, schedule_input({"kind": "contact", "contactId": b}, clientRequestId="req-1"))
    assert theirs.id != first.id
    plain = [await bx.schedule.create(alice, schedule_input({"kind": "contact", "contactId": a})) for _ in range(2)]
    assert plain[0].id != plain[1].id  # without a key, every request is a new message
    with pytest.raises(ValidationError):
        schedule_input({"kind": "contact", "contactId": a}, clientRequestId="has spaces")
