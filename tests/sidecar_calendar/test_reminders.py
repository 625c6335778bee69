"""Reminders through the shared lease queue, posted into a real channel by the real chat core."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectnow.clock import utcnow
from connectnow.errors import AppError
from connectnow.services.leases import LeaseWorker
from models.calendar_events import EventCreate, EventFields, EventUpdate
from models.channels import ChannelCreate
from models.messages import HistoryQuery
from models.workspaces import WorkspaceCreate
from tests.sidecar_calendar.conftest import Cal


async def channel_for(cal: Cal, owner: Any) -> str:
    ws = await cal.chat.workspaces.create(owner, WorkspaceCreate.model_validate({"name": "Acme"}))
    room = await cal.chat.channels.create(owner, ChannelCreate.model_validate({"workspaceId": ws.id, "name": "events"}))
    return str(room.id)


def worker(cal: Cal) -> LeaseWorker:
    return LeaseWorker("test-reminders", cal.suite.reminders.queue, cal.suite.reminders.handle)


async def history(cal: Cal, who: Any, channel_id: str) -> list[str]:
    return [
        m.content for m in await cal.chat.messages.history(who, HistoryQuery.model_validate({"channelId": channel_id}))
    ]


def event_body(calendar_id: str, start: Any, **extra: Any) -> EventCreate:
    return EventCreate.model_validate(
        {
            "calendarId": calendar_id,
            "title": "Board meeting",
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(minutes=30)).isoformat(),
            "timeZone": "Europe/Berlin",
            "location": "Room 1",
            **extra,
        }
    )


async def test_reminder_posts_into_the_channel_before_the_event(cal: Cal) -> None:
    alice = await cal.user()
    channel = await channel_for(cal, alice)
    cid = await cal.calendar(alice)
    soon = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=10)
    later = await cal.suite.events.create(
        alice, event_body(cid, soon + timedelta(days=2), reminder={"channelId": channel})
    )
    await cal.suite.events.create(alice, event_body(cid, soon, reminder={"channelId": channel, "minutesBefore": 15}))
    assert await worker(cal).run_once() == 1  # only the one whose reminder time has come
    posted = await history(cal, alice, channel)
    assert len(posted) == 1 and "Board meeting" in posted[0] and "Europe/Berlin" in posted[0]
    assert await worker(cal).run_once() == 0  # sent once, never again
    assert await cal.count("calendar_reminders", {"status": "sent"}) == 1
    # Removing the reminder (or the event) removes its queue item.
    await cal.suite.events.update(alice, later.event.id, EventUpdate.model_validate({"clearFields": ["reminder"]}))
    assert await cal.count("calendar_reminders", {"eventId": later.event.id}) == 0


async def test_a_series_reminder_moves_to_the_next_instance(cal: Cal) -> None:
    alice = await cal.user()
    channel = await channel_for(cal, alice)
    cid = await cal.calendar(alice)
    soon = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=5)
    saved = await cal.suite.events.create(
        alice,
        event_body(
            cid,
            soon,
            reminder={"channelId": channel, "minutesBefore": 30},
            recurrencePattern={"type": "daily", "occurrenceCount": 3},
        ),
    )
    assert await worker(cal).run_once() == 1
    item = await cal.store.collection("calendar_reminders").find_one({"eventId": saved.event.id})
    assert item is not None and item["status"] == "pending"
    next_start = item["occurrenceStart"]
    assert str(next_start)[:10] == (soon + timedelta(days=1)).strftime("%Y-%m-%d")
    assert len(await history(cal, alice, channel)) == 1


async def test_a_reminder_needs_a_channel_its_owner_can_post_in(cal: Cal) -> None:
    alice, mallory = await cal.user(), await cal.user()
    channel = await channel_for(cal, alice)
    cid = await cal.calendar(mallory)
    with pytest.raises(AppError) as err:
        await cal.suite.events.create(
            mallory, event_body(cid, utcnow() + timedelta(hours=1), reminder={"channelId": channel})
        )
    assert err.value.code == "NOT_FOUND"  # she cannot even see the channel
    assert await cal.count("calendar_events") == 0 and await cal.count("calendar_reminders") == 0


async def test_a_reminder_the_chat_core_refuses_later_is_recorded_as_an_error(cal: Cal) -> None:
    alice = await cal.user()
    channel = await channel_for(cal, alice)
    cid = await cal.calendar(alice)
    await cal.suite.events.create(
        alice, event_body(cid, utcnow() + timedelta(minutes=1), reminder={"channelId": channel})
    )
    await cal.chat.channels.set_archived(alice, channel, True)  # posting is refused from now on
    assert await worker(cal).run_once() == 1
    item = await cal.store.collection("calendar_reminders").find_one({})
    assert item is not None and item["status"] == "error" and "CHANNEL_ARCHIVED" in item["lastError"]
    assert [m for m in await history(cal, alice, channel) if "Board meeting" in m] == []


async def test_an_edited_instance_is_reminded_once_at_its_own_time(cal: Cal) -> None:
    alice = await cal.user()
    channel = await channel_for(cal, alice)
    cid = await cal.calendar(alice)
    soon = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=5)
    saved = await cal.suite.events.create(
        alice,
        event_body(
            cid,
            soon,
            reminder={"channelId": channel, "minutesBefore": 10},
            recurrencePattern={"type": "daily", "occurrenceCount": 3},
        ),
    )
    later = soon + timedelta(hours=3)
    exception = await cal.suite.series.edit_instance(
        alice,
        saved.event.id,
        soon,
        EventFields.model_validate(
            {"startTime": later.isoformat(), "endTime": (later + timedelta(minutes=30)).isoformat()}
        ),
    )
    reminders = cal.store.collection("calendar_reminders")
    series_item = await reminders.find_one({"eventId": saved.event.id})
    own_item = await reminders.find_one({"eventId": exception.event.id})
    assert series_item is not None and own_item is not None
    assert str(series_item["occurrenceStart"])[:10] == (soon + timedelta(days=1)).strftime("%Y-%m-%d")
    assert await worker(cal).run_once() == 0  # nothing due: the first instance moved three hours later
