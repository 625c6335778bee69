"""Scheduling policies enforced on create and reschedule, on both adapters; availability."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectnow import errors
from connectnow.errors import AppError
from connectnow.services.scheduling import SchedulingServices
from connectnow.services.scheduling.access import Actor
from models.scheduling import BookingCreate, BookingReschedule, PolicyUpdate
from tests.sidecar_scheduling.conftest import MakeActor, at, booking_body

NY = "America/New_York"


async def book(sch: SchedulingServices, actor: Actor, host: Actor, start: str, end: str, **extra: Any) -> str:
    body = BookingCreate.model_validate(booking_body(host, start, end, **extra))
    return (await sch.bookings.create(actor, body)).id


async def refused(sch: SchedulingServices, actor: Actor, host: Actor, start: str, end: str, **extra: Any) -> AppError:
    with pytest.raises(AppError) as info:
        await book(sch, actor, host, start, end, **extra)
    return info.value


async def set_policy(sch: SchedulingServices, host: Actor, **fields: Any) -> None:
    base = {"bufferTimeMinutes": 0, "timeZone": "UTC"}
    await sch.policies.update(host, PolicyUpdate.model_validate({**base, **fields}))


def rule_of(exc: AppError) -> str:
    assert exc.code == errors.SCHEDULING_POLICY_VIOLATION.code, exc
    assert exc.details is not None
    return str(exc.details["rule"])


async def test_overlap_refused_and_back_to_back_allowed(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host)
    first = await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    exc = await refused(sch, guest, host, "2027-01-05 09:30", "2027-01-05 10:30")
    assert rule_of(exc) == "overlap" and exc.details == {"rule": "overlap", "conflictsWith": first}
    # Half-open intervals: ending at 10:00 and starting at 10:00 do not clash.
    await book(sch, guest, host, "2027-01-05 10:00", "2027-01-05 10:30")
    await book(sch, guest, host, "2027-01-05 08:00", "2027-01-05 09:00")


async def test_buffers_of_both_meetings_count(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, bufferTimeMinutes=10)
    await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00", bufferMinutes=30)
    # The new meeting's own buffer is 10, but the existing one needs 30 minutes around it.
    exc = await refused(sch, guest, host, "2027-01-05 10:20", "2027-01-05 10:50")
    assert rule_of(exc) == "bufferTimeMinutes" and exc.details and exc.details["bufferMinutes"] == 30
    exc = await refused(sch, guest, host, "2027-01-05 08:00", "2027-01-05 08:45")
    assert rule_of(exc) == "bufferTimeMinutes"
    await book(sch, guest, host, "2027-01-05 10:30", "2027-01-05 11:00")  # exactly 30 minutes later: fine
    # And the new meeting's larger buffer counts against an existing meeting with a small one.
    exc = await refused(sch, guest, host, "2027-01-05 11:10", "2027-01-05 11:40", bufferMinutes=20)
    assert rule_of(exc) == "bufferTimeMinutes"


async def test_working_hours_in_their_zone_and_days(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    hours = {"start": "09:00", "end": "17:00", "timezone": NY, "days": ["monday", "tuesday"]}
    await set_policy(sch, host, workingHours=hours)
    # Tuesday 2027-01-05 09:00 in New York is 14:00 UTC (EST, UTC-5).
    await book(sch, guest, host, "2027-01-05 14:00", "2027-01-05 15:00")
    exc = await refused(sch, guest, host, "2027-01-05 13:30", "2027-01-05 14:30")
    assert rule_of(exc) == "workingHours"
    exc = await refused(sch, guest, host, "2027-01-05 21:30", "2027-01-05 22:30")  # 16:30-17:30 local
    assert rule_of(exc) == "workingHours"
    await book(sch, guest, host, "2027-01-05 21:00", "2027-01-05 22:00")  # ends exactly at 17:00 local
    exc = await refused(sch, guest, host, "2027-01-06 15:00", "2027-01-06 16:00")  # a Wednesday
    assert rule_of(exc) == "workingHours"


async def test_working_hours_across_a_dst_change(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(
        sch, host, workingHours={"start": "09:00", "end": "17:00", "timezone": NY, "days": ["friday", "monday"]}
    )
    # Clocks go forward on Sunday 2027-03-14. Friday 12th: 09:00 EST = 14:00 UTC; Monday 15th: 09:00 EDT = 13:00 UTC.
    exc = await refused(sch, guest, host, "2027-03-12 13:00", "2027-03-12 14:00")
    assert rule_of(exc) == "workingHours"
    await book(sch, guest, host, "2027-03-12 14:00", "2027-03-12 15:00")
    await book(sch, guest, host, "2027-03-15 13:00", "2027-03-15 14:00")
    exc = await refused(sch, guest, host, "2027-03-15 20:30", "2027-03-15 21:30")  # 16:30-17:30 EDT
    assert rule_of(exc) == "workingHours"


async def test_night_working_hours_cross_midnight(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, workingHours={"start": "22:00", "end": "06:00", "timezone": "UTC", "days": ["monday"]})
    await book(sch, guest, host, "2027-01-04 23:30", "2027-01-05 00:30")  # Monday night into Tuesday
    await book(sch, guest, host, "2027-01-05 05:00", "2027-01-05 06:00")  # still Monday's shift
    exc = await refused(sch, guest, host, "2027-01-05 23:00", "2027-01-06 00:00")  # Tuesday night: no shift
    assert rule_of(exc) == "workingHours"


async def test_quiet_hours_cross_midnight_and_dst(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, quietHours={"start": "22:00", "end": "08:00", "timezone": "Europe/Berlin"})
    # Winter: 22:00 Berlin = 21:00 UTC. A meeting ending exactly when the quiet hours start is fine.
    await book(sch, guest, host, "2027-01-05 20:00", "2027-01-05 21:00")
    exc = await refused(sch, guest, host, "2027-01-05 20:30", "2027-01-05 21:30")
    assert rule_of(exc) == "quietHours"
    exc = await refused(sch, guest, host, "2027-01-06 02:00", "2027-01-06 03:00")  # after midnight
    assert rule_of(exc) == "quietHours"
    await book(sch, guest, host, "2027-01-06 07:00", "2027-01-06 08:00")  # 08:00-09:00 Berlin
    # Europe moves to summer time on 2027-03-28: the night of the 27th ends at 08:00 CEST = 06:00 UTC.
    await book(sch, guest, host, "2027-03-28 06:00", "2027-03-28 06:30")
    exc = await refused(sch, guest, host, "2027-03-28 05:30", "2027-03-28 06:15")
    assert rule_of(exc) == "quietHours"


async def test_max_per_day_counts_in_the_users_zone(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, maxMeetingsPerDay=2, timeZone=NY)
    # 2027-01-05 23:00 UTC and 2027-01-06 03:00 UTC are both on Tuesday 5 January in New York.
    await book(sch, guest, host, "2027-01-05 23:00", "2027-01-05 23:30")
    await book(sch, guest, host, "2027-01-06 03:00", "2027-01-06 03:30")
    exc = await refused(sch, guest, host, "2027-01-05 15:00", "2027-01-05 15:30")
    assert rule_of(exc) == "maxMeetingsPerDay"
    assert exc.details and exc.details["count"] == 2 and exc.details["timeZone"] == NY
    await book(sch, guest, host, "2027-01-06 05:00", "2027-01-06 05:30")  # 00:00 Wednesday in New York


async def test_max_per_day_on_a_dst_day(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, maxMeetingsPerDay=1, timeZone=NY)
    # Sunday 2027-03-14 lasts 23 hours in New York: 05:00 UTC to 04:00 UTC the next day.
    await book(sch, guest, host, "2027-03-14 05:00", "2027-03-14 05:30")
    exc = await refused(sch, guest, host, "2027-03-15 03:30", "2027-03-15 03:45")  # 23:30 EDT, still Sunday
    assert rule_of(exc) == "maxMeetingsPerDay"
    await book(sch, guest, host, "2027-03-15 04:00", "2027-03-15 04:30")  # Monday 00:00 EDT


async def test_max_per_week(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, maxMeetingsPerWeek=2, timeZone="Asia/Tokyo")
    # ISO weeks in Tokyo (UTC+9): Monday 2027-01-04 00:00 JST = 2027-01-03 15:00 UTC.
    await book(sch, guest, host, "2027-01-03 15:00", "2027-01-03 15:30")
    await book(sch, guest, host, "2027-01-08 10:00", "2027-01-08 10:30")
    exc = await refused(sch, guest, host, "2027-01-10 14:00", "2027-01-10 14:30")  # Sunday 23:00 JST
    assert rule_of(exc) == "maxMeetingsPerWeek"
    await book(sch, guest, host, "2027-01-10 15:00", "2027-01-10 15:30")  # next Monday in Tokyo


async def test_cancelled_meetings_free_their_slot(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, maxMeetingsPerDay=1)
    first = await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    assert rule_of(await refused(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")) == "overlap"
    await sch.bookings.transition(guest, first, "cancel", "cannot come")
    await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")


async def test_inactive_policy_still_refuses_overlaps(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(
        sch, host, maxMeetingsPerDay=1, isActive=False, quietHours={"start": "00:00", "end": "23:59", "timezone": "UTC"}
    )
    await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    await book(sch, guest, host, "2027-01-05 11:00", "2027-01-05 12:00")
    assert rule_of(await refused(sch, guest, host, "2027-01-05 09:30", "2027-01-05 10:30")) == "overlap"


@pytest.mark.parametrize(
    ("start", "end", "extra", "code"),
    [
        ("2027-01-05 10:00", "2027-01-05 09:00", {}, "BOOKING_TIME_INVALID"),
        ("2027-01-05 10:00", "2027-01-05 10:00", {}, "BOOKING_TIME_INVALID"),
        ("2027-01-05 10:00", "2027-01-07 10:00", {}, "BOOKING_TIME_INVALID"),
        ("2020-01-05 10:00", "2020-01-05 11:00", {}, "BOOKING_TIME_INVALID"),
        ("2027-01-05 10:00", "2027-01-05 11:00", {"timeZone": "Mars/Olympus"}, "TIMEZONE_UNKNOWN"),
        ("2027-01-05 10:00", "2027-01-05 11:00", {"timeZone": "../../etc/passwd"}, "TIMEZONE_UNKNOWN"),
    ],
)
async def test_bad_times_and_zones(
    sch: SchedulingServices, make_actor: MakeActor, start: str, end: str, extra: dict[str, Any], code: str
) -> None:
    host, guest = await make_actor(), await make_actor()
    exc = await refused(sch, guest, host, start, end, **extra)
    assert exc.code == code
    assert await sch.bookings.repo.count({}) == 0  # nothing stored


async def test_naive_datetimes_are_refused(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    body = booking_body(host, "2027-01-05 10:00", "2027-01-05 11:00")
    body["startTime"], body["endTime"] = "2027-01-05T10:00:00", "2027-01-05T11:00:00"
    with pytest.raises(AppError) as info:
        await sch.bookings.create(guest, BookingCreate.model_validate(body))
    assert info.value.code == "BOOKING_TIME_INVALID"


async def test_unknown_zone_in_policy_is_refused(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host = await make_actor()
    with pytest.raises(AppError) as info:
        await set_policy(sch, host, workingHours={"start": "09:00", "end": "17:00", "timezone": "Nowhere/City"})
    assert info.value.code == "TIMEZONE_UNKNOWN"
    assert (await sch.policies.get(host.user_id)).working_hours is None


async def test_reschedule_enforces_policies_and_ignores_its_own_slot(
    sch: SchedulingServices, make_actor: MakeActor
) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host, bufferTimeMinutes=15, quietHours={"start": "20:00", "end": "07:00", "timezone": "UTC"})
    moving = await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    await book(sch, guest, host, "2027-01-05 12:00", "2027-01-05 13:00")
    # Moving by 30 minutes overlaps only its own old slot: allowed.
    moved = await sch.bookings.reschedule(
        guest,
        moving,
        BookingReschedule.model_validate(
            {"startTime": at("2027-01-05 09:30"), "endTime": at("2027-01-05 10:30"), "reason": "late train"}
        ),
    )
    assert moved.status.value == "rescheduled" and moved.start_time == at("2027-01-05 09:30")
    assert moved.status_history[-1].reason == "late train"
    for start, end, rule in (
        ("2027-01-05 11:00", "2027-01-05 11:50", "bufferTimeMinutes"),
        ("2027-01-05 12:30", "2027-01-05 13:30", "overlap"),
        ("2027-01-05 21:00", "2027-01-05 22:00", "quietHours"),
    ):
        body = BookingReschedule.model_validate({"startTime": at(start), "endTime": at(end), "reason": "try"})
        with pytest.raises(AppError) as info:
            await sch.bookings.reschedule(guest, moving, body)
        assert rule_of(info.value) == rule
    still = await sch.bookings.get(guest, moving)
    assert still.start_time == at("2027-01-05 09:30") and still.version == moved.version


async def test_concurrent_bookings_cannot_both_take_the_last_slot(
    sch: SchedulingServices, make_actor: MakeActor
) -> None:
    host = await make_actor()
    guests = [await make_actor() for _ in range(4)]
    await set_policy(sch, host, maxMeetingsPerDay=1)
    hours = ["09", "11", "13", "15"]
    results = await asyncio.gather(
        *(book(sch, g, host, f"2027-01-05 {h}:00", f"2027-01-05 {h}:30") for g, h in zip(guests, hours, strict=True)),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, str)]
    assert len(ok) == 1
    assert all(
        isinstance(r, AppError) and r.code in ("SCHEDULING_POLICY_VIOLATION", "CONFLICT")
        for r in results
        if r not in ok
    )
    assert await sch.bookings.repo.count({"userId": host.user_id}) == 1


async def test_availability_lists_only_bookable_slots(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(
        sch,
        host,
        bufferTimeMinutes=30,
        workingHours={"start": "09:00", "end": "12:00", "timezone": "UTC", "days": ["tuesday"]},
    )
    await book(sch, guest, host, "2027-01-05 10:00", "2027-01-05 10:30")
    free = await sch.policies.availability(host.user_id, at("2027-01-04 00:00"), at("2027-01-06 00:00"), 30, 30)
    starts = [s.start.strftime("%H:%M") for s in free.slots]
    # 09:00-09:30 leaves exactly the 30-minute buffer before 10:00; 09:30 and 10:30 are inside a buffer;
    # Monday has no working hours.
    assert starts == ["09:00", "11:00", "11:30"]
    assert all(s.start.date().isoformat() == "2027-01-05" for s in free.slots)
    for slot in free.slots:  # every offered slot can be booked
        await book(
            sch,
            guest,
            host,
            slot.start.strftime("%Y-%m-%d %H:%M"),
            slot.end.strftime("%Y-%m-%d %H:%M"),
            bufferMinutes=0,
        )
        break


async def test_availability_range_limits(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host = await make_actor()
    for start, end in (("2027-01-05 00:00", "2027-01-04 00:00"), ("2027-01-01 00:00", "2027-03-01 00:00")):
        with pytest.raises(AppError) as info:
            await sch.policies.availability(host.user_id, at(start), at(end), 30, 30)
        assert info.value.code == "SCHEDULING_RANGE_INVALID"


async def test_concurrent_reschedules_into_one_slot(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host)
    ids = [await book(sch, guest, host, f"2027-01-05 {h}:00", f"2027-01-05 {h}:30") for h in ("09", "11", "13", "15")]
    body = BookingReschedule.model_validate(
        {"startTime": at("2027-01-06 10:00"), "endTime": at("2027-01-06 10:30"), "reason": "all want Wednesday"}
    )
    results = await asyncio.gather(*(sch.bookings.reschedule(guest, b, body) for b in ids), return_exceptions=True)
    moved = [r for r in results if not isinstance(r, BaseException)]
    assert len(moved) == 1
    assert all(isinstance(r, AppError) for r in results if r not in moved)
    on_wednesday = await sch.bookings.repo.count({"startTime": at("2027-01-06 10:00")})
    assert on_wednesday == 1
    # The losers kept (or got back) their old slot and status.
    for booking_id in ids:
        current = await sch.bookings.get(guest, booking_id)
        if booking_id != moved[0].id:
            assert current.start_time.date().isoformat() == "2027-01-05" and current.status.value == "pending"


async def test_first_use_creates_one_policy_even_concurrently(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host = await make_actor()
    made = await asyncio.gather(*(sch.policies.policy_for(host.user_id) for _ in range(5)))
    assert len({p.id for p in made}) == 1
    assert await sch.policies.policies.count({"userId": host.user_id}) == 1
    defaults = await sch.policies.get(host.user_id)
    assert (defaults.max_meetings_per_day, defaults.max_meetings_per_week, defaults.buffer_time_minutes) == (8, 40, 15)


async def test_a_conflicting_booking_is_never_visible(sch: SchedulingServices, make_actor: MakeActor) -> None:
    """Check and write are one step: a reader polling during a race never sees two meetings in one slot."""
    host = await make_actor()
    guests = [await make_actor() for _ in range(6)]
    await set_policy(sch, host)
    start, end = at("2027-01-05 09:00"), at("2027-01-05 09:30")
    seen: list[int] = []
    racing = asyncio.gather(
        *(book(sch, g, host, "2027-01-05 09:00", "2027-01-05 09:30") for g in guests), return_exceptions=True
    )
    while not racing.done():
        seen.append(len(await sch.policies.bookings.active_overlapping(host.user_id, start, end)))
        await asyncio.sleep(0)
    results = await racing
    assert len([r for r in results if isinstance(r, str)]) == 1
    assert seen and max(seen) <= 1
    assert await sch.bookings.repo.count({"userId": host.user_id}) == 1


async def test_a_calendar_lease_left_by_a_dead_writer_expires(
    sch: SchedulingServices, make_actor: MakeActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-step (MongoDB) leaves the host's lease held: writers wait for it, then take it over."""
    from connectnow.services.scheduling import policies

    host, guest = await make_actor(), await make_actor()
    await set_policy(sch, host)
    assert await sch.policies.policies.try_lock_calendar(host.user_id, "dead-worker", 60.0)
    monkeypatch.setattr(policies, "CALENDAR_WAIT_SECONDS", 0.2)
    exc = await refused(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30")
    assert exc.code == errors.CONFLICT.code and exc.retry_after
    assert await sch.bookings.repo.count({"userId": host.user_id}) == 0  # a refused writer stored nothing
    await sch.policies.policies.unlock_calendar(host.user_id, "dead-worker")
    assert await sch.policies.policies.try_lock_calendar(host.user_id, "another-dead-worker", 0.3)
    monkeypatch.setattr(policies, "CALENDAR_WAIT_SECONDS", 30.0)
    await book(sch, guest, host, "2027-01-05 09:00", "2027-01-05 09:30")
    assert await sch.bookings.repo.count({"userId": host.user_id}) == 1
