"""Categories and locations on both adapters: scopes, unique names, global ones, nearby search, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectnow import errors
from connectnow.errors import AppError
from models.calendar import CategoryCreate, CategoryUpdate, LocationCreate, LocationUpdate
from tests.sidecar_calendar.conftest import Cal


async def test_category_names_are_unique_per_owner(cal: Cal) -> None:
    alice, bob = await cal.user(), await cal.user()
    await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "Sales", "type": "external"}))
    with pytest.raises(AppError) as err:
        await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "SALES"}))
    assert err.value.error is errors.CATEGORY_NAME_TAKEN
    await cal.suite.catalog.create_category(bob, CategoryCreate.model_validate({"name": "Sales"}))  # bob's own
    other = await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "Ops"}))
    with pytest.raises(AppError) as err:
        await cal.suite.catalog.update_category(alice, other.id, CategoryUpdate.model_validate({"name": "sales"}))
    assert err.value.error is errors.CATEGORY_NAME_TAKEN
    assert sorted(c.name for c in await cal.suite.catalog.list_categories(alice)) == ["Ops", "Sales"]


async def test_global_categories_need_an_admin_and_are_shared(cal: Cal) -> None:
    alice, admin = await cal.user(), await cal.user(admin=True)
    with pytest.raises(AppError) as err:
        await cal.suite.catalog.create_category(alice, CategoryCreate.model_validate({"name": "All", "isGlobal": True}))
    assert err.value.error is errors.ADMIN_REQUIRED
    shared = await cal.suite.catalog.create_category(
        admin, CategoryCreate.model_validate({"name": "All", "isGlobal": True, "type": "system"})
    )
    assert [c.id for c in await cal.suite.catalog.list_categories(alice)] == [shared.id]
    with pytest.raises(AppError) as err:
        await cal.suite.catalog.update_category(alice, shared.id, CategoryUpdate.model_validate({"color": "#000000"}))
    assert err.value.error is errors.ADMIN_REQUIRED
    with pytest.raises(AppError):
        await cal.suite.catalog.delete_category(alice, shared.id)
    bob = await cal.user()
    mine = await cal.suite.catalog.create_category(bob, CategoryCreate.model_validate({"name": "Private"}))
    with pytest.raises(AppError) as err:
        await cal.suite.catalog.update_category(alice, mine.id, CategoryUpdate.model_validate({"name": "Stolen"}))
    assert err.value.code == "NOT_FOUND"


async def test_locations_nearby_nearest_first_within_scope(cal: Cal) -> None:
    alice, bob, admin = await cal.user(), await cal.user(), await cal.user(admin=True)

    async def place(who: Any, name: str, lat: float, lng: float, **extra: Any) -> str:
        data = {"name": name, "coordinates": {"latitude": lat, "longitude": lng}, **extra}
        return (await cal.suite.catalog.create_location(who, LocationCreate.model_validate(data))).id

    gate = await place(alice, "Brandenburg Gate", 52.516275, 13.377704, capacity=500)
    tower = await place(admin, "TV Tower", 52.520815, 13.409419, isGlobal=True)
    await place(bob, "Bob's office", 52.5163, 13.3778)  # bob's: invisible to alice
    await place(alice, "Paris office", 48.856613, 2.352222)
    closed = await place(alice, "Closed hall", 52.5170, 13.3780)
    await cal.suite.catalog.update_location(alice, closed, LocationUpdate.model_validate({"isActive": False}))
    found = await cal.suite.catalog.nearby(alice, 52.5163, 13.3777, 5_000, 10)
    assert [loc.id for loc in found] == [gate, tower]
    assert found[0].distance_meters is not None and found[0].distance_meters < 50
    assert found[1].distance_meters == pytest.approx(2_190, rel=0.05)
    moved = await cal.suite.catalog.update_location(
        alice, gate, LocationUpdate.model_validate({"coordinates": {"latitude": 48.8566, "longitude": 2.3522}})
    )
    assert moved.coordinates is not None and moved.coordinates.latitude == 48.8566
    assert [loc.id for loc in await cal.suite.catalog.nearby(alice, 52.5163, 13.3777, 5_000, 10)] == [tower]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "coordinates": {"latitude": 91, "longitude": 0}},
        {"name": "x", "coordinates": {"latitude": 0, "longitude": -180.5}},
        {"name": "x", "coordinates": {"latitude": "NaN", "longitude": 0}},
        {"name": "x", "coordinates": {"latitude": {"$ne": None}, "longitude": 0}},
        {"name": "x", "capacity": 0},
        {"name": "x", "setupTimeRequired": -5},
        {"name": ""},
        {"name": "x", "equipmentAvailable": ["a"] * 51},
    ],
)
def test_bad_locations_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LocationCreate.model_validate(data)


async def test_location_names_unique_and_deleting_unlinks_events(cal: Cal) -> None:
    alice = await cal.user()
    loc = await cal.suite.catalog.create_location(alice, LocationCreate.model_validate({"name": "Hall"}))
    with pytest.raises(AppError) as err:
        await cal.suite.catalog.create_location(alice, LocationCreate.model_validate({"name": "hall"}))
    assert err.value.error is errors.LOCATION_NAME_TAKEN
    from models.calendar_events import EventCreate

    cid = await cal.calendar(alice)
    saved = await cal.suite.events.create(
        alice,
        EventCreate.model_validate(
            {
                "calendarId": cid,
                "title": "T",
                "startTime": "2026-06-01T10:00:00Z",
                "endTime": "2026-06-01T11:00:00Z",
                "locationId": loc.id,
            }
        ),
    )
    await cal.suite.catalog.delete_location(alice, loc.id)
    assert (await cal.suite.events.get(alice, saved.event.id)).location_id is None
