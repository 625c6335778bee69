"""The SQLite adapter builds a statement's SQL once per shape of its filter, update and sort
(connectnow/store/sqlite_shapes.py): a cached statement is the statement the builder makes, refused input is
refused every time and never cached, and the cache stays bounded whatever the input."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectnow.repositories.message_log import Counters, Step
from connectnow.store import sqlite_shapes as shapes
from connectnow.store import sqlite_sql as sql
from connectnow.store.port import InvalidQueryError, check_filter, check_update, normalize_update
from connectnow.store.store_sqlite import SqliteStore


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
FILTERS: list[dict[str, Any]] = [
    {},
    {"id": "a"},
    {"id": "a", "seq": {"$exists": True}},
    {"id": "a", "seq": {"$exists": False}},
    {"a": None, "b": True, "c": False, "d": 1, "e": 1.5, "f": "x", "g": Color.RED, "h": Level.HIGH},
    {"a": NOW, "b": date(2026, 1, 2), "c": Decimal("1.5")},
    {"a": {"$ne": None}, "b": {"$ne": 3}, "c": {"$ne": True}, "d": {"$eq": "x"}, "e": {"$eq": None}},
    {"a": {"$gt": 1, "$lte": 9}, "b": {"$lt": "m"}, "c": {"$gte": NOW}, "d": {"$gt": False}},
    {"a": {"$in": ["x", "y"]}, "b": {"$in": [1, True, None, "z"]}, "c": {"$nin": [False]}, "d": {"$in": []}},
    {"a": {"$in": ("x",)}, "b": {"$nin": {3}}, "c": {"$in": frozenset({True, False})}},
    {"tags": {"$elemMatch": {"$eq": "x"}}, "ids": {"$elemMatch": {"$in": [1, 2]}}},
    {"$or": [{"lockOwner": None}, {"lockUntil": {"$lt": 5.5}}], "id": "c"},
    {"$and": [{"a": 1}, {"$or": [{"b": "x"}, {"c": {"$in": ["y", None]}}]}]},
]
UPDATES: list[dict[str, Any]] = [
    {"$set": {"a": 1, "b": None, "c": True, "d": {"x": [1]}, "e": [1, 2], "f": NOW, "g": Color.RED}},
    {"$set": {"a": None}},
    {"$unset": {"x": ""}, "$set": {"a": None, "b": 2}},
    {"$inc": {"n": 1, "m": 2.5}, "$max": {"top": 3}, "$min": {"low": NOW}},
    {"$push": {"log": {"at": 1}}, "$addToSet": {"tags": "x", "flags": True}, "$pull": {"old": 7}},
    {"$setOnInsert": {"createdAt": NOW, "gone": None}, "$set": {"lockOwner": "o", "lockUntil": 9.5}},
]


@pytest.fixture(autouse=True)
def empty_caches() -> None:
    for cache in (shapes.WHERE, shapes.UPDATE, shapes.ORDER):
        cache.clear()


@pytest.mark.parametrize("flt", FILTERS)
def test_a_cached_where_is_the_built_one(flt: dict[str, Any]) -> None:
    expected: list[Any] = []
    text = sql.where(flt, expected)
    for doc in ("doc", "t.doc"):
        built: list[Any] = []
        want = sql.where(flt, built, doc)
        for _ in range(2):  # a miss, then a hit
            params: list[Any] = []
            assert shapes.where(flt, params, doc) == want
            assert params == built == expected
    assert shapes.WHERE.hits == 2 and shapes.WHERE.misses == 2 and text


@pytest.mark.parametrize("update", UPDATES)
def test_a_cached_update_is_the_built_one(update: dict[str, Any]) -> None:
    built: list[Any] = []
    want = sql.update_expr(normalize_update(update), built)
    for _ in range(2):
        params: list[Any] = []
        assert shapes.update_expr(update, params) == want
        assert params == built
    assert shapes.UPDATE.hits == 1 and shapes.UPDATE.misses == 1


def test_same_shape_other_values_shares_the_text_not_the_parameters() -> None:
    one: list[Any] = []
    two: list[Any] = []
    first = shapes.where({"id": "a", "n": {"$in": [1, 2]}, "at": {"$lt": NOW}}, one)
    second = shapes.where({"id": "b", "n": {"$in": [3, 4]}, "at": {"$lt": datetime(2020, 1, 1, tzinfo=UTC)}}, two)
    assert first == second and shapes.WHERE.hits == 1
    assert one == ["a", 1, 2, sql.format_datetime(NOW)] and two == ["b", 3, 4, "2020-01-01T00:00:00.000Z"]
    # A value of another type (or another boolean) is another shape: its SQL differs.
    assert shapes.where({"id": "a", "n": {"$in": [True]}, "at": {"$lt": NOW}}, []) != first
    assert shapes.where({"x": {"$exists": True}}, []) != shapes.where({"x": {"$exists": False}}, [])


@pytest.mark.parametrize(
    "flt",
    [
        {"a b": 1},
        {"$where": "1"},
        {"a": {"$regex": "x"}},
        {"a": {}},
        {"a": [1]},
        {"a": {"x": 1}},
        {"a": {"$in": "xy"}},
        {"a": {"$in": [[1]]}},
        {"a": {"$exists": 1}},
        {"a": {"$elemMatch": {"$gt": 1}}},
        {"$or": []},
    ],
)
def test_refused_filters_are_refused_every_time_and_never_cached(flt: dict[str, Any]) -> None:
    with pytest.raises(InvalidQueryError):
        check_filter(flt)
    for _ in range(2):
        with pytest.raises(InvalidQueryError):
            shapes.where(flt, [])
    assert len(shapes.WHERE) == 0


@pytest.mark.parametrize(
    "update",
    [{}, {"$rename": {"a": "b"}}, {"$set": {}}, {"$set": {"id": "x"}}, {"$inc": {"n": "1"}}, {"$inc": {"n": True}},
     {"$pull": {"a": [1]}}, {"$set": {"a.$": 1}}, {"$set": 5}],
)  # fmt: skip
def test_refused_updates_are_refused_every_time_and_never_cached(update: dict[str, Any]) -> None:
    with pytest.raises(InvalidQueryError):
        check_update(update)
    for _ in range(2):
        with pytest.raises(InvalidQueryError):
            shapes.update_expr(update, [])
    assert len(shapes.UPDATE) == 0


def test_the_cache_is_bounded() -> None:
    for n in range(shapes.MAX_SHAPES * 2):
        shapes.where({f"x{n}": 1}, [])
    assert len(shapes.WHERE) == shapes.MAX_SHAPES
    # Least recently used goes first: a shape in use stays.
    hot = {"id": "a", "seq": {"$exists": True}}
    shapes.where(hot, [])
    for n in range(shapes.MAX_SHAPES * 2):
        shapes.where(hot, [])
        shapes.where({f"y{n}": 1}, [])
    hits = shapes.WHERE.hits
    shapes.where(hot, [])
    assert shapes.WHERE.hits == hits + 1


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "shapes.db")
    await store.open()
    await store.migrate()
    yield store
    await store.close()


async def test_lease_acquire_and_release_build_their_sql_once(sqlite_store: SqliteStore) -> None:
    """The message steps' counter writes: after the first step, no SQL is built (and no field checked)."""
    counters = Counters(sqlite_store, "chan")
    for n in range(5):
        if n == 1:
            for cache in (shapes.WHERE, shapes.UPDATE):
                cache.hits = cache.misses = 0
        seq, event_seq, lease, stale = await counters.acquire("c1", "owner")
        assert (seq, event_seq, lease, stale) == (n, n, n + 1, False)
        assert await counters.release("c1", "owner", Step("c1", n + 1, n + 1, lease))
    assert shapes.WHERE.misses == 0 and shapes.UPDATE.misses == 0
    assert shapes.WHERE.hits >= 8 and shapes.UPDATE.hits == 8
