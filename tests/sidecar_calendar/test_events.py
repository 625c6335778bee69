"""Events on both adapters: fields, validation, conflicts, capacity, range expansion, series edits, cascades."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from models.calendar import CategoryCreate, LocationCreate, ShareRole
from models.calendar_events import (
    AttendeeResponse,
    EventCreate,
    EventFields,
    EventUpdate,
    SplitRequest,
)
from tests.sidecar_calendar.conftest import Cal


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def body(calendar_id: str, **extra: Any) -> EventCreate:
    data = {
        "calendarId": calendar_id,
        "title": "Launch",
        "startTime": "2026-06-01T10:00:00Z",
        "endTime": "2026-06-01T11:00:00Z",
        **extra,
    }
    return EventCreate.model_validate(data)


async def test_every_seed_field_is_stored_and_read_back(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    saved = await cal.suite.events.create(
        alice,
        body(
            cid,
            description="Product launch",
            allDay=False,
            location="Hall A",
            category="Marketing",
            setupStartTime="2026-06-01T08:00:00Z",
            setupEndTime="2026-06-01T09:30:00Z",
            teardownStartTime="2026-06-01T11:00:00Z",
            teardownEndTime="2026-06-01T12:00:00Z",
            internalNotes="VIP list at the door",
            equipmentRequired=["projector", "mics"],
            staffAssigned=["sam"],
            budgetAllocated=12500.5,
            clientContact="jo@client.example",
            internalCategory="launch",
            priorityLevel="critical",
            attendees=[
                {"email": "a@x.example", "name": "A", "isOrganizer": True, "responseStatus": "accepted"},
                {"email": "b@x.example"},
            ],
        ),
    )
    got = await cal.suite.events.get(alice, saved.event.id)
    assert got.internal_notes == "VIP list at the door" and got.budget_allocated == 12500.5
    assert got.equipment_required == ["projector", "mics"] and got.priority_level == "critical"
    assert got.setup_start_time == utc(2026, 6, 1, 8) and got.teardown_end_time == utc(2026, 6, 1, 12)
    assert [a.response_status for a in got.attendees] == ["accepted", "none"]
    assert got.created_by == alice.user_id == got.last_modified_by and got.sync_status == "not_synced"
    assert ("calendar:event.created", f"user:{alice.user_id}") in [(e, r) for e, r, _ in cal.hub.sent]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"endTime": "2026-06-01T09:00:00Z"}, "EVENT_TIME_INVALID"),  # ends before it starts
        ({"endTime": "2026-06-01T10:00:00Z"}, "EVENT_TIME_INVALID"),  # zero length
        ({"setupStartTime": "2026-06-01T10:30:00Z", "setupEndTime": "2026-06-01T10:45:00Z"}, "EVENT_TIME_INVALID"),
        ({"setupStartTime": "2026-06-01T09:00:00Z"}, "EVENT_TIME_INVALID"),  # half a pair
        (
            {"teardownStartTime": "2026-06-01T10:30:00Z", "teardownEndTime": "2026-06-01T12:00:00Z"},
            "EVENT_TIME_INVALID",
        ),
        ({"setupStartTime": "2026-05-29T09:00:00Z", "setupEndTime": "2026-06-01T09:00:00Z"}, "EVENT_TIME_INVALID"),
        ({"recurrencePattern": {"type": "daily", "endDate": "2026-05-01"}}, "RECURRENCE_INVALID"),
    ],
)
async def test_inconsistent_times_are_refused_and_nothing_is_stored(cal: Cal, extra: dict[str, Any], code: str) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    with pytest.raises(AppError) as err:
        await cal.suite.events.create(alice, body(cid, **extra))
    assert err.value.code == code
    assert await cal.count("calendar_events") == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"startTime": "2026-02-30T10:00:00Z"},  # February 30
        {"title": {"$ne": None}},
        {"calendarId": {"$ne": None}},
        {"title": "x" * 301},
        {"title": "bad\x00title"},
        {"timeZone": "Mars/Olympus"},
        {"timeZone": "../../etc/passwd"},
        {"budgetAllocated": -1},
        {"budgetAllocated": "NaN"},
        {"priorityLevel": "urgent"},
        {"attendees": [{"email": "not-an-email"}]},
        {"attendees": [{"email": f"p{i}@x.example"} for i in range(501)]},
        {"userId": "0" * 24},
        {"createdBy": "0" * 24},
    ],
)
def test_bad_shapes_are_refused_by_the_model(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        body("0" * 24, **extra)


async def test_another_users_calendar_and_event_are_invisible(cal: Cal) -> None:
    alice, mallory = await cal.user(), await cal.user()
    cid = await cal.calendar(alice)
    saved = await cal.suite.events.create(alice, body(cid))
    for call in (
        cal.suite.events.create(mallory, body(cid)),
        cal.suite.events.get(mallory, saved.event.id),
        cal.suite.events.update(mallory, saved.event.id, EventUpdate.model_validate({"title": "pwned"})),
        cal.suite.events.delete(mallory, saved.event.id),
        cal.suite.events.range(mallory, [cid], utc(2026, 6, 1), utc(2026, 6, 2)),
        cal.suite.calendars.delete(mallory, cid),
    ):
        with pytest.raises(AppError) as err:
            await call
        assert err.value.code == "NOT_FOUND"
    assert (await cal.suite.events.get(alice, saved.event.id)).title == "Launch"


async def test_read_only_calendar_refuses_writes(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice, canEdit=False)
    with pytest.raises(AppError) as err:
        await cal.suite.events.create(alice, body(cid))
    assert err.value.error is errors.CALENDAR_READ_ONLY


async def test_overlap_on_the_same_calendar_is_a_warning(cal: Cal) -> None:
    alice = await cal.user()
    cid, other = await cal.calendar(alice), await cal.calendar(alice, "Home")
    first = await cal.suite.events.create(alice, body(cid))
    second = await cal.suite.events.create(
        alice, body(cid, startTime="2026-06-01T10:30:00Z", endTime="2026-06-01T12:00:00Z")
    )
    assert [(c.kind, c.event_id) for c in second.conflicts] == [("calendar", first.event.id)]
    elsewhere = await cal.suite.events.create(alice, body(other))
    assert elsewhere.conflicts == []
    touching = await cal.suite.events.create(
        alice, body(cid, startTime="2026-06-01T12:00:00Z", endTime="2026-06-01T13:00:00Z")
    )
    assert touching.conflicts == []  # back to back is not an overlap
    after = await cal.suite.events.create(
        alice, body(cid, startTime="2026-06-01T11:45:00Z", endTime="2026-06-01T11:50:00Z")
    )
    assert [c.event_id for c in after.conflicts] == [second.event.id]
    # Moving the event away clears the warning; the moved event does not conflict with itself.
    moved = await cal.suite.events.update(
        alice,
        after.event.id,
        EventUpdate.model_validate({"startTime": "2026-06-02T12:00:00Z", "endTime": "2026-06-02T13:00:00Z"}),
    )
    assert moved.conflicts == []


async def test_location_capacity_and_setup_teardown_busy_time(cal: Cal) -> None:
    alice, bob = await cal.user(), await cal.user()
    room = await cal.suite.catalog.create_location(
        alice, LocationCreate.model_validate({"name": "Room 1", "capacity": 2, "isGlobal": False})
    )
    cid = await cal.calendar(alice)
    three = [{"email": f"p{i}@x.example"} for i in range(3)]
    with pytest.raises(AppError) as err:
        await cal.suite.events.create(alice, body(cid, locationId=room.id, attendees=three))
    assert err.value.error is errors.LOCATION_CAPACITY_EXCEEDED and err.value.details == {"capacity": 2, "attendees": 3}
    assert await cal.count("calendar_events") == 0
    first = await cal.suite.events.create(
        alice,
        body(
            cid,
            locationId=room.id,
            attendees=three[:2],
            teardownStartTime="2026-06-01T11:00:00Z",
            teardownEndTime="2026-06-01T12:00:00Z",
        ),
    )
    # 11:30 does not overlap the event (ends 11:00) but does overlap its teardown: the room is busy.
    later = await cal.suite.events.create(
        alice, body(cid, locationId=room.id, startTime="2026-06-01T11:30:00Z", endTime="2026-06-01T12:30:00Z")
    )
    assert [(c.kind, c.event_id) for c in later.conflicts] == [("location", first.event.id)]
    # A user who cannot see the room cannot book it.
    bob_cal = await cal.calendar(bob)
    with pytest.raises(AppError) as err:
        await cal.suite.events.create(bob, body(bob_cal, locationId=room.id))
    assert err.value.code == "NOT_FOUND"


async def test_location_equipment_and_setup_time_are_checked(cal: Cal) -> None:
    alice = await cal.user()
    hall = await cal.suite.catalog.create_location(
        alice,
        LocationCreate.model_validate(
            {"name": "Hall", "equipmentAvailable": ["Projector", "piano"], "setupTimeRequired": 30}
        ),
    )
    cid = await cal.calendar(alice)
    setup = {"setupStartTime": "2026-06-01T09:30:00Z", "setupEndTime": "2026-06-01T10:00:00Z"}
    with pytest.raises(AppError) as err:
        await cal.suite.events.create(
            alice, body(cid, locationId=hall.id, equipmentRequired=["piano", "Organ"], **setup)
        )
    assert err.value.error is errors.LOCATION_EQUIPMENT_MISSING and err.value.details["missing"] == ["Organ"]
    for short in ({}, {"setupStartTime": "2026-06-01T09:45:00Z", "setupEndTime": "2026-06-01T10:00:00Z"}):
        with pytest.raises(AppError) as err:
            await cal.suite.events.create(alice, body(cid, locationId=hall.id, **short))
        assert err.value.error is errors.LOCATION_SETUP_TOO_SHORT and err.value.details["setupTimeRequired"] == 30
    assert await cal.count("calendar_events") == 0
    made = await cal.suite.events.create(
        alice, body(cid, locationId=hall.id, equipmentRequired=["projector", "Piano"], **setup)
    )
    assert made.event.location_id == hall.id
    # An update that drops the setup window is refused the same way.
    with pytest.raises(AppError) as err:
        await cal.suite.events.update(
            alice, made.event.id, EventUpdate.model_validate({"clearFields": ["setupStartTime", "setupEndTime"]})
        )
    assert err.value.error is errors.LOCATION_SETUP_TOO_SHORT


async def test_usage_counts_follow_events(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    cat = await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "Sales"}))
    cat2 = await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "Ops"}))
    loc = await cal.suite.catalog.create_location(alice, LocationCreate.model_validate({"name": "HQ"}))
    a = await cal.suite.events.create(alice, body(cid, categoryId=cat.id, locationId=loc.id))
    await cal.suite.events.create(
        alice, body(cid, categoryId=cat.id, startTime="2026-06-03T10:00:00Z", endTime="2026-06-03T11:00:00Z")
    )

    async def usage() -> tuple[int, int, int]:
        cats = {c.id: c.usage_count for c in await cal.suite.catalog.list_categories(alice)}
        locs = {c.id: c.usage_count for c in await cal.suite.catalog.list_locations(alice)}
        return cats[cat.id], cats[cat2.id], locs[loc.id]

    assert await usage() == (2, 0, 1)
    await cal.suite.events.update(
        alice, a.event.id, EventUpdate.model_validate({"categoryId": cat2.id, "clearFields": ["locationId"]})
    )
    assert await usage() == (1, 1, 0)
    await cal.suite.events.delete(alice, a.event.id)
    assert await usage() == (1, 0, 0)
    assert await cal.suite.catalog.recount() == {"fixed": 0}


async def test_range_expands_series_with_exceptions_and_cancellations(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    daily = await cal.suite.events.create(
        alice,
        body(
            cid,
            title="Standup",
            startTime="2026-03-27T09:00:00",
            endTime="2026-03-27T09:15:00",
            timeZone="Europe/Berlin",
            recurrencePattern={"type": "daily", "occurrenceCount": 5},
        ),
    )
    master = daily.event.id
    # Move Sunday's standup (DST day) to 11:00 local, cancel Monday's.
    await cal.suite.series.edit_instance(
        alice,
        master,
        utc(2026, 3, 29, 7),
        EventFields.model_validate(
            {"startTime": "2026-03-29T11:00:00", "endTime": "2026-03-29T11:30:00", "title": "Late standup"}
        ),
    )
    await cal.suite.series.cancel_instance(alice, master, utc(2026, 3, 30, 7))
    items = await cal.suite.events.range(alice, None, utc(2026, 3, 1), utc(2026, 4, 30))
    assert [(i.title, i.start_time) for i in items] == [
        ("Standup", utc(2026, 3, 27, 8)),
        ("Standup", utc(2026, 3, 28, 8)),
        ("Late standup", utc(2026, 3, 29, 9)),
        ("Standup", utc(2026, 3, 31, 7)),
    ]
    assert (
        items[2].is_exception and items[2].master_id == master and items[2].original_start_time == utc(2026, 3, 29, 7)
    )
    # Editing the same instance again updates the exception instead of adding one.
    await cal.suite.series.edit_instance(
        alice, master, utc(2026, 3, 29, 7), EventFields.model_validate({"title": "Later"})
    )
    assert await cal.count("calendar_events") == 2
    for bad in (utc(2026, 3, 29, 8), utc(2026, 4, 5, 7)):
        with pytest.raises(AppError) as err:
            await cal.suite.series.cancel_instance(alice, master, bad)
        assert err.value.error is errors.INSTANCE_NOT_FOUND
    with pytest.raises(AppError) as err:
        await cal.suite.events.range(alice, None, utc(2026, 1, 1), utc(2027, 6, 1))
    assert err.value.error is errors.CALENDAR_RANGE_INVALID
    with pytest.raises(AppError):
        await cal.suite.events.range(alice, None, utc(2026, 2, 1), utc(2026, 1, 1))


async def test_split_this_and_following(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    weekly = await cal.suite.events.create(
        alice,
        body(
            cid,
            title="Review",
            startTime="2026-10-05T14:00:00",
            endTime="2026-10-05T15:00:00",
            timeZone="America/New_York",
            recurrencePattern={"type": "weekly", "daysOfWeek": ["monday"], "occurrenceCount": 6},
        ),
    )
    master = weekly.event.id
    # An exception after the split point follows its instance into the new series.
    await cal.suite.series.edit_instance(
        alice, master, utc(2026, 11, 2, 19), EventFields.model_validate({"title": "Special"})
    )
    split = await cal.suite.series.split(
        alice,
        master,
        SplitRequest.model_validate(
            {
                "fromOriginalStart": "2026-10-19T18:00:00Z",
                "title": "Review v2",
                "startTime": "2026-10-19T16:00:00",
                "endTime": "2026-10-19T17:00:00",
            }
        ),
    )
    assert split.event.recurrence_pattern is not None and split.event.recurrence_pattern.occurrence_count == 4
    old = await cal.suite.events.get(alice, master)
    assert old.recurrence_pattern is not None and old.recurrence_pattern.occurrence_count == 2
    items = await cal.suite.events.range(alice, [cid], utc(2026, 10, 1), utc(2026, 12, 31))
    assert [(i.title, i.start_time) for i in items] == [
        ("Review", utc(2026, 10, 5, 18)),
        ("Review", utc(2026, 10, 12, 18)),
        ("Review v2", utc(2026, 10, 19, 20)),
        ("Review v2", utc(2026, 10, 26, 20)),
        ("Special", utc(2026, 11, 2, 19)),
        ("Review v2", utc(2026, 11, 9, 21)),  # EST from November 1
    ]
    with pytest.raises(AppError) as err:
        await cal.suite.series.split(
            alice, master, SplitRequest.model_validate({"fromOriginalStart": "2026-10-05T18:00:00Z"})
        )
    assert err.value.error is errors.RECURRENCE_INVALID


async def test_attendee_responses_need_the_rsvp_link_not_a_matching_email(cal: Cal) -> None:
    alice, bob, squatter = await cal.user(), await cal.user("bobby"), await cal.user()
    cid = await cal.calendar(alice)
    saved = await cal.suite.events.create(alice, body(cid, attendees=[{"email": "bobby@example.com"}]))
    answer = AttendeeResponse.model_validate({"email": "bobby@example.com", "responseStatus": "accepted"})
    # An account with the invitee's address is not proof of owning it: refused until the link is used.
    with pytest.raises(AppError) as refused:
        await cal.suite.events.respond(bob, saved.event.id, answer)
    assert refused.value.error is errors.NOT_FOUND
    [link] = await cal.suite.rsvp.links(alice, saved.event.id)
    assert link.email == "bobby@example.com" and link.path == f"/api/v1/rsvp/{link.token}"
    attendee = await cal.suite.rsvp.link_account(bob, link.token)
    assert attendee.email == "bobby@example.com"
    with pytest.raises(AppError) as used:
        await cal.suite.rsvp.link_account(squatter, link.token)  # single use
    assert used.value.error is errors.RSVP_LINK_INVALID
    mine = await cal.suite.events.respond(bob, saved.event.id, answer)
    assert mine.response_status == "accepted"
    assert (await cal.suite.events.get(alice, saved.event.id)).attendees[0].response_status == "accepted"
    invited = await cal.suite.events.range(bob, None, utc(2026, 1, 1), utc(2026, 12, 31))
    assert [(i.event_id, i.invited) for i in invited] == [(saved.event.id, True)]
    assert await cal.suite.events.range(squatter, None, utc(2026, 1, 1), utc(2026, 12, 31)) == []
    with pytest.raises(AppError):
        await cal.suite.events.respond(squatter, saved.event.id, answer)
    forged = link.token[:-4] + ("0000" if not link.token.endswith("0000") else "1111")
    with pytest.raises(AppError) as bad:
        await cal.suite.rsvp.view(forged)
    assert bad.value.error is errors.RSVP_LINK_INVALID


async def test_deleting_a_calendar_and_a_user_cascades(cal: Cal) -> None:
    alice, bob = await cal.user(), await cal.user()
    work, home = await cal.calendar(alice), await cal.calendar(alice, "Home")
    bob_cal = await cal.calendar(bob)
    cat = await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "Mine"}))
    admin = await cal.user(admin=True)
    shared = await cal.suite.catalog.create_category(
        admin, CategoryCreate.model_validate({"name": "Company", "isGlobal": True})
    )
    await cal.suite.events.create(alice, body(work, categoryId=shared.id))
    await cal.suite.events.create(alice, body(home, recurrencePattern={"type": "daily", "occurrenceCount": 3}))
    await cal.suite.events.create(bob, body(bob_cal))
    assert await cal.suite.calendars.delete(alice, work) == 1
    assert await cal.count("calendar_events", {"calendarId": work}) == 0
    assert {c.id: c.usage_count for c in await cal.suite.catalog.list_categories(alice)}[shared.id] == 0
    counts = await cal.suite.calendars.delete_user_data(alice.user_id)
    assert counts["calendars"] == 1 and counts["events"] == 1 and counts["categories"] == 1
    assert await cal.count("calendars", {"userId": alice.user_id}) == 0
    assert await cal.count("calendar_categories", {"id": cat.id}) == 0
    assert await cal.count("calendar_categories", {"id": shared.id}) == 1  # global ones stay
    assert await cal.count("calendar_events", {"userId": bob.user_id}) == 1  # others untouched


async def test_update_whole_series_and_optimistic_version(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    saved = await cal.suite.events.create(alice, body(cid, recurrencePattern={"type": "daily", "occurrenceCount": 3}))
    updated = await cal.suite.events.update(alice, saved.event.id, EventUpdate.model_validate({"title": "Renamed"}))
    assert updated.event.version == 2
    items = await cal.suite.events.range(alice, [cid], utc(2026, 6, 1), utc(2026, 6, 10))
    assert [i.title for i in items] == ["Renamed"] * 3
    stopped = await cal.suite.events.update(
        alice, saved.event.id, EventUpdate.model_validate({"clearRecurrence": True})
    )
    assert not stopped.event.is_recurring
    assert len(await cal.suite.events.range(alice, [cid], utc(2026, 6, 1), utc(2026, 6, 10))) == 1
    with pytest.raises(AppError) as err:
        await cal.suite.events.update(alice, saved.event.id, EventUpdate.model_validate({"clearFields": ["title"]}))
    assert err.value.code == "VALIDATION_FAILED"


async def test_a_new_series_warns_about_the_instances_that_collide(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    single = await cal.suite.events.create(
        alice, body(cid, startTime="2026-06-03T10:30:00Z", endTime="2026-06-03T11:30:00Z")
    )
    series = await cal.suite.events.create(alice, body(cid, recurrencePattern={"type": "daily", "occurrenceCount": 5}))
    assert [(c.event_id, c.start_time) for c in series.conflicts] == [(single.event.id, utc(2026, 6, 3, 10, 30))]
    # And the other way round: a single event landing on an instance of the series.
    later = await cal.suite.events.create(
        alice, body(cid, startTime="2026-06-05T10:45:00Z", endTime="2026-06-05T10:50:00Z")
    )
    assert [(c.event_id, c.start_time) for c in later.conflicts] == [(series.event.id, utc(2026, 6, 5, 10))]


async def test_changing_a_series_time_drops_exceptions_it_no_longer_has(cal: Cal) -> None:
    alice = await cal.user()
    cid = await cal.calendar(alice)
    saved = await cal.suite.events.create(alice, body(cid, recurrencePattern={"type": "daily", "occurrenceCount": 4}))
    master = saved.event.id
    await cal.suite.series.edit_instance(alice, master, utc(2026, 6, 2, 10), EventFields.model_validate({"title": "X"}))
    await cal.suite.series.cancel_instance(alice, master, utc(2026, 6, 3, 10))
    # Only the title changes: exceptions and cancellations stay.
    await cal.suite.events.update(alice, master, EventUpdate.model_validate({"title": "Renamed"}))
    items = await cal.suite.events.range(alice, [cid], utc(2026, 6, 1), utc(2026, 6, 10))
    assert [i.title for i in items] == ["Renamed", "X", "Renamed"]
    # The time of day changes: old instances no longer exist, nor do their exceptions and cancellations.
    moved = await cal.suite.events.update(
        alice,
        master,
        EventUpdate.model_validate({"startTime": "2026-06-01T15:00:00Z", "endTime": "2026-06-01T16:00:00Z"}),
    )
    assert moved.event.exdates == []
    items = await cal.suite.events.range(alice, [cid], utc(2026, 6, 1), utc(2026, 6, 10))
    assert [(i.title, i.start_time.hour) for i in items] == [("Renamed", 15)] * 4
    assert await cal.count("calendar_events") == 1


async def test_free_busy_merges_and_clips_and_search_matches_words(cal: Cal) -> None:
    alice, other = await cal.user(), await cal.user()
    cid = await cal.calendar(alice)
    for title, start, end in (
        ("Board meeting", "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"),
        ("Lunch with board", "2026-06-01T09:30:00Z", "2026-06-01T11:00:00Z"),  # overlaps: merged
        ("Choir", "2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z"),  # touches: merged
        ("Late", "2026-06-01T22:00:00Z", "2026-06-02T02:00:00Z"),  # clipped at timeMax
    ):
        await cal.suite.events.create(alice, body(cid, title=title, startTime=start, endTime=end))
    await cal.suite.events.create(
        alice,
        body(cid, title="Weekly", startTime="2026-05-25T15:00:00Z", endTime="2026-05-25T16:00:00Z",
             recurrencePattern={"type": "weekly", "daysOfWeek": ["monday"], "occurrenceCount": 3}),
    )  # fmt: skip
    free = await cal.suite.events.free_busy(alice, None, utc(2026, 6, 1), utc(2026, 6, 2))
    assert [(b.start, b.end) for b in free.busy] == [
        (utc(2026, 6, 1, 9), utc(2026, 6, 1, 12)),
        (utc(2026, 6, 1, 15), utc(2026, 6, 1, 16)),  # the series' second instance
        (utc(2026, 6, 1, 22), utc(2026, 6, 2)),
    ]
    assert (await cal.suite.events.free_busy(other, None, utc(2026, 6, 1), utc(2026, 6, 2))).busy == []
    found = await cal.suite.events.search(alice, "BOARD", None, utc(2026, 5, 1), utc(2026, 7, 1))
    assert [i.title for i in found] == ["Board meeting", "Lunch with board"]
    assert [
        i.title for i in await cal.suite.events.search(alice, "lunch board", None, utc(2026, 5, 1), utc(2026, 7, 1))
    ] == ["Lunch with board"]
    assert len(await cal.suite.events.search(alice, "weekly", None, utc(2026, 5, 1), utc(2026, 7, 1))) == 3
    assert await cal.suite.events.search(other, "board", None, utc(2026, 5, 1), utc(2026, 7, 1)) == []


async def test_calendar_sharing_read_and_read_write(cal: Cal) -> None:
    owner, reader, writer, stranger = await cal.user(), await cal.user(), await cal.user(), await cal.user()
    cid = await cal.calendar(owner)
    made = await cal.suite.events.create(owner, body(cid, title="Rota"))
    await cal.suite.calendars.share(owner, cid, reader.user_id, ShareRole.READ)
    shared = await cal.suite.calendars.share(owner, cid, writer.user_id, ShareRole.WRITE)
    assert {(s.user_id, s.role) for s in shared.shares} == {(reader.user_id, "read"), (writer.user_id, "write")}
    [seen] = await cal.suite.calendars.shared_with_me(reader)
    assert (seen.id, seen.my_role, seen.shares) == (cid, "read", [])
    june = (utc(2026, 6, 1), utc(2026, 6, 2))
    assert [i.title for i in await cal.suite.events.range(reader, [cid], *june)] == ["Rota"]
    assert (await cal.suite.events.get(reader, made.event.id)).title == "Rota"
    for attempt in (
        cal.suite.events.create(reader, body(cid)),
        cal.suite.events.update(reader, made.event.id, EventUpdate.model_validate({"title": "Mine"})),
        cal.suite.events.delete(reader, made.event.id),
    ):
        with pytest.raises(AppError) as err:
            await attempt
        assert err.value.error is errors.CALENDAR_READ_ONLY
    # The read-write share creates and changes events; they stay the owner's (owner sees and edits them).
    added = await cal.suite.events.create(writer, body(cid, title="Added", startTime="2026-06-01T12:00:00Z",
                                                       endTime="2026-06-01T13:00:00Z"))  # fmt: skip
    assert (added.event.user_id, added.event.created_by) == (owner.user_id, writer.user_id)
    await cal.suite.events.update(writer, made.event.id, EventUpdate.model_validate({"title": "Rota v2"}))
    assert (await cal.suite.events.get(owner, added.event.id)).title == "Added"
    assert [i.title for i in await cal.suite.events.range(owner, [cid], *june)] == ["Rota v2", "Added"]
    # Only the owner manages the calendar and its shares; strangers see nothing.
    for attempt in (
        cal.suite.calendars.share(writer, cid, stranger.user_id, ShareRole.READ),
        cal.suite.calendars.delete(writer, cid),
        cal.suite.events.range(stranger, [cid], *june),
        cal.suite.events.get(stranger, made.event.id),
        cal.suite.rsvp.links(writer, made.event.id),
    ):
        with pytest.raises(AppError) as err:
            await attempt
        assert err.value.error is errors.NOT_FOUND
    await cal.suite.calendars.unshare(owner, cid, reader.user_id)
    assert await cal.suite.calendars.shared_with_me(reader) == []
    with pytest.raises(AppError):
        await cal.suite.events.get(reader, made.event.id)
