"""Storage contract: the geo query `near` answers the same on both adapters (MongoDB $near; SQLite haversine)."""

from __future__ import annotations

import math

import pytest

from connectnow.store.port import DocumentStore, InvalidQueryError, StoreError, haversine_meters

COLL = "calendar_locations"  # has GeoIndex gx_cal_locations_geo on "geo"

# Known distances (great circle, R = 6378.1 km): Berlin Brandenburg Gate to Berlin TV tower is about 2.2 km,
# Berlin to Potsdam about 27 km, Berlin to Paris about 878 km.
BERLIN_GATE = (13.377704, 52.516275)
TV_TOWER = (13.409419, 52.520815)
POTSDAM = (13.064473, 52.390569)
PARIS = (2.352222, 48.856613)
FIJI_EAST = (179.9, -17.0)
FIJI_WEST = (-179.9, -17.0)


def point(lng: float, lat: float) -> dict[str, object]:
    return {"type": "Point", "coordinates": [lng, lat]}


async def seed(store: DocumentStore) -> None:
    coll = store.collection(COLL)
    await coll.insert_many(
        [
            {"id": "gate", "scope": "s", "nameLower": "gate", "geo": point(*BERLIN_GATE), "kind": "a"},
            {"id": "tower", "scope": "s", "nameLower": "tower", "geo": point(*TV_TOWER), "kind": "b"},
            {"id": "potsdam", "scope": "s", "nameLower": "potsdam", "geo": point(*POTSDAM), "kind": "a"},
            {"id": "paris", "scope": "s", "nameLower": "paris", "geo": point(*PARIS), "kind": "a"},
            {"id": "fiji-e", "scope": "s", "nameLower": "fiji-e", "geo": point(*FIJI_EAST), "kind": "a"},
            {"id": "nowhere", "scope": "s", "nameLower": "nowhere", "kind": "a"},
        ]
    )


def test_haversine_known_distance() -> None:
    assert haversine_meters(*BERLIN_GATE, *TV_TOWER) == pytest.approx(2_200, rel=0.05)
    assert haversine_meters(*BERLIN_GATE, *PARIS) == pytest.approx(878_000, rel=0.01)
    assert haversine_meters(0, 0, 0, 0) == 0


async def test_near_orders_by_distance_and_bounds_it(store: DocumentStore) -> None:
    await seed(store)
    found = await store.collection(COLL).near("geo", *BERLIN_GATE, max_meters=50_000, flt={})
    assert [doc["id"] for doc, _ in found] == ["gate", "tower", "potsdam"]
    distances = [d for _, d in found]
    assert distances[0] == pytest.approx(0, abs=1)
    assert distances == sorted(distances)
    assert distances[2] == pytest.approx(haversine_meters(*BERLIN_GATE, *POTSDAM), rel=1e-6)


async def test_near_applies_filter_and_limit(store: DocumentStore) -> None:
    await seed(store)
    coll = store.collection(COLL)
    only_a = await coll.near("geo", *BERLIN_GATE, max_meters=1_000_000, flt={"kind": "a"})
    assert [doc["id"] for doc, _ in only_a] == ["gate", "potsdam", "paris"]
    two = await coll.near("geo", *BERLIN_GATE, max_meters=1_000_000, flt={}, limit=2)
    assert [doc["id"] for doc, _ in two] == ["gate", "tower"]


async def test_near_crosses_the_antimeridian(store: DocumentStore) -> None:
    await seed(store)
    found = await store.collection(COLL).near("geo", *FIJI_WEST, max_meters=50_000, flt={})
    assert [doc["id"] for doc, _ in found] == ["fiji-e"]
    assert found[0][1] == pytest.approx(haversine_meters(*FIJI_WEST, *FIJI_EAST), rel=1e-6)


async def test_near_refuses_bad_arguments(store: DocumentStore) -> None:
    coll = store.collection(COLL)
    for lng, lat, meters in ((181, 0, 10), (0, 91, 10), (0, 0, 0), (0, 0, -5), (math.nan, 0, 10), (0, 0, math.inf)):
        with pytest.raises(InvalidQueryError):
            await coll.near("geo", lng, lat, max_meters=meters, flt={})
    with pytest.raises(InvalidQueryError):
        await coll.near("geo", 0, 0, max_meters=10, flt={"kind": {"$where": "1"}})
    with pytest.raises(StoreError):
        await store.collection("calendars").near("geo", 0, 0, max_meters=10, flt={})


async def test_sqlite_prefilters_on_the_geo_index(tmp_path: object) -> None:
    """The bounding box is answered from the (lat, lng) expression index, not a full table scan."""
    from pathlib import Path

    from connectnow.store.store_sqlite import SqliteStore, _bounding_box, _geo_exprs

    store = SqliteStore(Path(str(tmp_path)) / "geo.db")
    await store.open()
    await store.migrate()
    try:
        lat_expr, lng_expr = _geo_exprs("geo")
        params: list[object] = []
        box = _bounding_box(13.4, 52.5, 5000, lat_expr, lng_expr, params)
        query = f"EXPLAIN QUERY PLAN SELECT id FROM {COLL} WHERE {box}"  # noqa: S608 - identifiers from code
        plan = await store.read(query, params)
        assert any("gx_cal_locations_geo" in str(row) for row in plan), plan
    finally:
        await store.close()
