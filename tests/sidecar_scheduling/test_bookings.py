"""Bookings: every seed field, visibility, the status lifecycle, list filters, redaction."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectnow.errors import AppError
from connectnow.services.scheduling import SchedulingServices
from connectnow.services.scheduling.access import Actor
from connectnow.store.port import DocumentStore
from models.scheduling import BookingCreate, BookingReschedule, BookingStatus, PolicyUpdate
from tests.sidecar_scheduling.conftest import MakeActor, at, booking_body

FULL: dict[str, Any] = {
    "calBookingId": 4711,
    "calBookingUid": "cal-uid-4711",
    "eventTypeTitle": "Pastoral care",
    "eventTypeSlug": "pastoral-care",
    "description": "Grief after loss; call me on +1 555 123 4567 or ann@example.org",
    "timeZone": "Europe/Paris",
    "location": "Vestry room 2",
    "attendees": [{"name": "Ann Example", "email": "Ann@Example.org", "timeZone": "Europe/Paris"}],
    "sensitivity": "Medium",
    "isAnonymous": False,
    "providerIds": {"google": "evt_123"},
    "intakeData": {"concern": "my brother's illness"},
    "metadata": {"source": "cal.com"},
}


async def create(sch: SchedulingServices, actor: Actor, host: Actor, start: str, end: str, **extra: Any) -> str:
    return (await sch.bookings.create(actor, BookingCreate.model_validate(booking_body(host, start, end, **extra)))).id


async def relaxed(sch: SchedulingServices, host: Actor) -> None:
    await sch.policies.update(host, PolicyUpdate.model_validate({"bufferTimeMinutes": 0, "maxMeetingsPerDay": 50}))


async def test_create_keeps_every_field_and_encrypts_intake(
    sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore
) -> None:
    host, guest = await make_actor(), await make_actor()
    view = await sch.bookings.create(
        guest, BookingCreate.model_validate(booking_body(host, "2027-01-05 09:00", "2027-01-05 09:45", **FULL))
    )
    assert view.duration == 45 and view.status is BookingStatus.PENDING and view.version == 1
    assert view.attendee_emails == ["ann@example.org"] and view.attendee_names == ["Ann Example"]
    assert view.intake_data == {"concern": "my brother's illness"}
    assert (
        view.cal_booking_id == 4711 and view.provider_ids == {"google": "evt_123"} and view.location == "Vestry room 2"
    )
    assert view.redacted_description == "Grief after loss; call me on [phone] or [email]"
    stored = await store.collection("bookings").find_one({"id": view.id})
    assert stored is not None and "intakeData" not in stored
    assert stored["encryptedIntakeData"].startswith("v1:dev:") and "brother" not in stored["encryptedIntakeData"]
    again = await sch.bookings.get(host, view.id)
    assert again.intake_data == {"concern": "my brother's illness"}


async def test_high_sensitivity_and_anonymous_are_fully_redacted(
    sch: SchedulingServices, make_actor: MakeActor
) -> None:
    host, guest = await make_actor(), await make_actor()
    await relaxed(sch, host)
    high = await create(
        sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00", description="abuse disclosure", sensitivity="High"
    )
    anon = await create(
        sch, guest, host, "2027-01-05 11:00", "2027-01-05 12:00", description="question", isAnonymous=True
    )
    assert (await sch.bookings.get(host, high)).redacted_description == "Private meeting"
    assert (await sch.bookings.get(host, anon)).redacted_description == "Private meeting"


async def test_external_ids_are_unique(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await relaxed(sch, host)
    await create(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00", calBookingId=1)
    with pytest.raises(AppError) as info:
        await create(sch, guest, host, "2027-01-05 11:00", "2027-01-05 12:00", calBookingId=1)
    assert info.value.code == "CONFLICT"
    assert await sch.bookings.repo.count({}) == 1  # the refused one left nothing behind


async def test_strangers_cannot_see_or_change_a_booking(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest, stranger, admin = (
        await make_actor(),
        await make_actor(),
        await make_actor(),
        await make_actor(admin=True),
    )
    booking = await create(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00", intakeData={"x": "private"})
    for call in (
        sch.bookings.get(stranger, booking),
        sch.bookings.transition(stranger, booking, "cancel", "no"),
        sch.summaries.latest(stranger, booking),
    ):
        with pytest.raises(AppError) as info:
            await call
        assert info.value.code == "NOT_FOUND"
    assert await sch.bookings.list(stranger) == []
    assert (await sch.bookings.get(admin, booking)).intake_data == {"x": "private"}
    with pytest.raises(AppError) as info:
        await sch.bookings.get(guest, "000000000000000000000000")
    assert info.value.code == "NOT_FOUND"


async def test_unknown_or_disabled_host(sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore) -> None:
    guest, host = await make_actor(), await make_actor()
    body = booking_body(host, "2027-01-05 09:00", "2027-01-05 10:00")
    body["userId"] = "ffffffffffffffffffffffff"
    with pytest.raises(AppError) as info:
        await sch.bookings.create(guest, BookingCreate.model_validate(body))
    assert info.value.code == "NOT_FOUND"
    await store.collection("users").update_one({"id": host.user_id}, {"$set": {"isActive": False}})
    with pytest.raises(AppError) as info:
        await create(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    assert info.value.code == "NOT_FOUND"


async def test_lifecycle_with_reasons(sch: SchedulingServices, make_actor: MakeActor) -> None:
    host, guest = await make_actor(), await make_actor()
    await relaxed(sch, host)
    one = await create(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    with pytest.raises(AppError) as info:
        await sch.bookings.transition(guest, one, "accept", None)  # only the host accepts
    assert info.value.code == "FORBIDDEN"
    accepted = await sch.bookings.transition(host, one, "accept", None)
    assert accepted.status is BookingStatus.ACCEPTED and accepted.version == 2
    with pytest.raises(AppError) as info:
        await sch.bookings.transition(host, one, "reject", "too late")
    assert info.value.code == "BOOKING_STATUS_INVALID"
    with pytest.raises(AppError) as info:
        await sch.bookings.transition(guest, one, "cancel", None)
    assert info.value.code == "VALIDATION_FAILED"
    cancelled = await sch.bookings.transition(guest, one, "cancel", "feeling better")
    assert cancelled.status is BookingStatus.CANCELLED
    assert [(c.status.value, c.reason) for c in cancelled.status_history] == [
        ("accepted", None),
        ("cancelled", "feeling better"),
    ]
    for action in ("accept", "cancel", "reject"):
        with pytest.raises(AppError) as info:
            await sch.bookings.transition(host, one, action, "again")
        assert info.value.code == "BOOKING_STATUS_INVALID"
    body = BookingReschedule.model_validate(
        {"startTime": at("2027-01-06 09:00"), "endTime": at("2027-01-06 10:00"), "reason": "x"}
    )
    with pytest.raises(AppError) as info:
        await sch.bookings.reschedule(guest, one, body)
    assert info.value.code == "BOOKING_STATUS_INVALID"

    two = await create(sch, guest, host, "2027-01-05 11:00", "2027-01-05 12:00")
    rejected = await sch.bookings.transition(host, two, "reject", "not my area")
    assert rejected.status is BookingStatus.REJECTED and rejected.status_history[-1].reason == "not my area"

    three = await create(sch, guest, host, "2027-01-05 13:00", "2027-01-05 14:00")
    body = BookingReschedule.model_validate(
        {"startTime": at("2027-01-07 13:00"), "endTime": at("2027-01-07 14:00"), "reason": "sick", "expectedVersion": 1}
    )
    moved = await sch.bookings.reschedule(host, three, body)
    assert moved.status is BookingStatus.RESCHEDULED and moved.version == 2
    with pytest.raises(AppError) as info:  # a stale version
        await sch.bookings.reschedule(host, three, body)
    assert info.value.code == "CONFLICT"
    assert (await sch.bookings.transition(host, three, "accept", None)).status is BookingStatus.ACCEPTED


async def test_list_filters(sch: SchedulingServices, make_actor: MakeActor, store: DocumentStore) -> None:
    host, guest, other = await make_actor(), await make_actor(), await make_actor()
    await relaxed(sch, host)
    a = await create(sch, guest, host, "2027-01-05 09:00", "2027-01-05 10:00")
    b = await create(sch, guest, host, "2027-01-06 09:00", "2027-01-06 10:00")
    c = await create(sch, other, host, "2027-01-07 09:00", "2027-01-07 10:00")
    await sch.bookings.transition(host, b, "cancel", "conflict")
    await sch.bookings.transition(host, c, "accept", None)
    # A meeting in the past (stored directly: the API refuses to book the past).
    past = await create(sch, guest, host, "2027-01-08 09:00", "2027-01-08 10:00")
    await store.collection("bookings").update_one(
        {"id": past}, {"$set": {"startTime": at("2025-01-01 09:00"), "endTime": at("2025-01-01 10:00")}}
    )

    def ids(rows: list[Any]) -> list[str]:
        return [r.id for r in rows]

    assert ids(await sch.bookings.list(host)) == [past, a, b, c]
    assert ids(await sch.bookings.list(guest)) == [past, a, b]  # the booker sees only their own
    assert ids(await sch.bookings.list(host, scope="upcoming")) == [a, c]
    assert ids(await sch.bookings.list(host, scope="past")) == [past]
    assert ids(await sch.bookings.list(host, scope="cancelled")) == [b]
    assert ids(await sch.bookings.list(host, status=BookingStatus.ACCEPTED)) == [c]
    assert ids(await sch.bookings.list(host, scope="upcoming", status=BookingStatus.CANCELLED)) == []
    assert ids(await sch.bookings.list(host, since=at("2027-01-05 12:00"), until=at("2027-01-07 00:00"))) == [b]
    assert ids(await sch.bookings.list(host, offset=1, limit=2)) == [a, b]
    assert all(r.intake_data is None for r in await sch.bookings.list(host))
    admin = await make_actor(admin=True)
    assert ids(await sch.bookings.list(admin, for_user=other.user_id)) == [c]
    with pytest.raises(AppError) as info:
        await sch.bookings.list(guest, for_user=host.user_id)
    assert info.value.code == "ADMIN_REQUIRED"


@pytest.mark.parametrize(
    "patch",
    [
        {"userId": {"$ne": None}},
        {"eventTypeId": "7; drop"},
        {"title": ""},
        {"title": "x" * 300},
        {"title": "bad\u202etext"},
        {"attendees": [{"name": "A", "email": "not-an-email"}]},
        {"attendees": [{"name": "A", "email": "a@example.org"}] * 51},
        {"sensitivity": "Secret"},
        {"intakeData": {"blob": "x" * 20_000}},
        {"status": "accepted"},
        {"createdBy": "someone"},
        {"startTime": {"$gt": ""}},
    ],
)
async def test_bad_booking_input_is_refused_by_shape(make_actor: MakeActor, patch: dict[str, Any]) -> None:
    host = await make_actor()
    with pytest.raises(ValidationError):
        BookingCreate.model_validate({**booking_body(host, "2027-01-05 09:00", "2027-01-05 10:00"), **patch})
