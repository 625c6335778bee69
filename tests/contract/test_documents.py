"""The storage contract: every behaviour of the document port, run on each adapter (see the test ids)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from connectnow.clock import utcnow
from connectnow.store.port import DocumentStore, DuplicateKeyError, InvalidQueryError
from models.users import UserRecord


def user_doc(num: int, /, **extra: object) -> dict[str, object]:
    now = utcnow()
    return {
        "id": f"{num:024x}",
        "email": f"u{num}@example.com",
        "emailLower": f"u{num}@example.com",
        "username": f"User{num}",
        "usernameLower": f"user{num}",
        "displayName": f"User {num}",
        "createdAt": now,
        "updatedAt": now,
        **extra,
    }


async def test_insert_and_find_round_trip_with_types(store: DocumentStore) -> None:
    users = store.collection("users")
    when = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    await users.insert_one(user_doc(1, lastLoginAt=when, isAdmin=True, tags=["a", "b"], meta={"k": [1, 2]}))
    doc = await users.find_one({"id": f"{1:024x}"})
    assert doc is not None
    record = UserRecord.model_validate(doc)
    assert record.last_login_at == when.replace(microsecond=123000)  # millisecond precision on both
    assert record.is_admin is True
    assert doc["tags"] == ["a", "b"] and doc["meta"] == {"k": [1, 2]}


async def test_none_fields_are_absent(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_one(user_doc(1, bio=None))
    doc = await users.find_one({"usernameLower": "user1"})
    assert doc is not None and "bio" not in doc
    assert await users.count({"bio": None}) == 1
    await users.update_one({"usernameLower": "user1"}, {"$set": {"bio": "hi"}})
    assert await users.count({"bio": None}) == 0
    await users.update_one({"usernameLower": "user1"}, {"$set": {"bio": None}})
    doc = await users.find_one({"usernameLower": "user1"})
    assert doc is not None and "bio" not in doc


async def test_unique_index_names_the_index(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_one(user_doc(1))
    with pytest.raises(DuplicateKeyError) as email_dup:
        await users.insert_one(user_doc(2, emailLower="u1@example.com"))
    assert email_dup.value.index == "ux_users_email"
    with pytest.raises(DuplicateKeyError) as name_dup:
        await users.insert_one(user_doc(3, usernameLower="user1"))
    assert name_dup.value.index == "ux_users_username"
    with pytest.raises(DuplicateKeyError) as pk_dup:
        await users.insert_one(user_doc(1, emailLower="other@example.com", usernameLower="other"))
    assert pk_dup.value.index == "primary"
    assert await users.count({}) == 1


async def test_update_into_a_duplicate_is_refused(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(1), user_doc(2)])
    with pytest.raises(DuplicateKeyError):
        await users.update_one({"usernameLower": "user2"}, {"$set": {"usernameLower": "user1"}})
    assert await users.count({"usernameLower": "user2"}) == 1


async def test_comparison_operators(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(n, score=n * 10) for n in range(1, 6)])
    assert await users.count({"score": {"$gt": 20}}) == 3
    assert await users.count({"score": {"$gte": 20, "$lt": 50}}) == 3
    assert await users.count({"score": {"$lte": 10}}) == 1
    assert await users.count({"score": {"$in": [10, 30, 99]}}) == 2
    assert await users.count({"score": {"$nin": [10, 30]}}) == 3
    assert await users.count({"score": {"$ne": 10}}) == 4
    assert await users.count({"missing": {"$ne": 1}}) == 5  # absent fields are "not equal"
    assert await users.count({"score": {"$exists": True}}) == 5
    assert await users.count({"bio": {"$exists": False}}) == 5
    assert await users.count({"$or": [{"score": 10}, {"score": 50}]}) == 2
    assert await users.count({"$and": [{"score": {"$gt": 10}}, {"score": {"$lt": 40}}]}) == 2


async def test_datetime_ranges_and_sorting(store: DocumentStore) -> None:
    users = store.collection("users")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    # Whole seconds and fractions mixed: string order must still be time order on SQLite.
    offsets = [timedelta(seconds=1), timedelta(seconds=1, milliseconds=500), timedelta(seconds=2)]
    await users.insert_many([user_doc(i, seenAt=base + off) for i, off in enumerate(offsets, start=1)])
    found = await users.find({"seenAt": {"$gt": base + timedelta(seconds=1)}}, sort=[("seenAt", 1)])
    assert [d["usernameLower"] for d in found] == ["user2", "user3"]
    newest = await users.find({}, sort=[("seenAt", -1)], limit=1)
    assert newest[0]["usernameLower"] == "user3"


async def test_sort_skip_limit_and_iterate(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(i, rank=i % 3, n=i) for i in range(1, 11)])
    page = await users.find({}, sort=[("rank", 1), ("n", -1)], skip=2, limit=3)
    assert [(d["rank"], d["n"]) for d in page] == [(0, 3), (1, 10), (1, 7)]
    streamed = [d["n"] async for d in users.iterate({"rank": 1}, sort=[("n", 1)], batch_size=2)]
    assert streamed == [1, 4, 7, 10]


async def test_update_operators(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_one(user_doc(1, counter=1, tags=["a"], peak=5))
    doc = await users.find_one_and_update(
        {"usernameLower": "user1"},
        {"$inc": {"counter": 2}, "$push": {"tags": "b"}, "$max": {"peak": 3}, "$set": {"flag": False}},
    )
    assert doc is not None
    assert (doc["counter"], doc["tags"], doc["peak"], doc["flag"]) == (3, ["a", "b"], 5, False)
    doc = await users.find_one_and_update(
        {"usernameLower": "user1"}, {"$min": {"peak": 2}, "$addToSet": {"tags": "a"}, "$unset": {"flag": ""}}
    )
    assert doc is not None
    assert (doc["peak"], doc["tags"], "flag" in doc) == (2, ["a", "b"], False)
    doc = await users.find_one_and_update({"usernameLower": "user1"}, {"$pull": {"tags": "a"}})
    assert doc is not None and doc["tags"] == ["b"]
    doc = await users.find_one_and_update({"usernameLower": "user1"}, {"$addToSet": {"tags": "c"}})
    assert doc is not None and doc["tags"] == ["b", "c"]


async def test_elem_match_on_scalar_arrays(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(1, tags=["x", "y"]), user_doc(2, tags=["z"]), user_doc(3)])
    assert await users.count({"tags": {"$elemMatch": {"$eq": "x"}}}) == 1
    assert await users.count({"tags": {"$elemMatch": {"$in": ["y", "z"]}}}) == 2


async def test_find_one_and_update_returns_before_or_after_and_respects_sort(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(n, due=n, state="ready") for n in (3, 1, 2)])
    before = await users.find_one_and_update(
        {"state": "ready"}, {"$set": {"state": "taken"}}, sort=[("due", 1)], return_new=False
    )
    assert before is not None and before["due"] == 1 and before["state"] == "ready"
    after = await users.find_one_and_update({"state": "ready"}, {"$set": {"state": "taken"}}, sort=[("due", 1)])
    assert after is not None and after["due"] == 2 and after["state"] == "taken"
    assert await users.find_one_and_update({"state": "nothing"}, {"$set": {"state": "x"}}) is None


async def test_concurrent_claims_take_each_item_once(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(n, state="ready") for n in range(1, 21)])

    async def claim() -> str | None:
        doc = await users.find_one_and_update({"state": "ready"}, {"$set": {"state": "taken"}})
        return None if doc is None else doc["id"]

    results = await asyncio.gather(*(claim() for _ in range(30)))
    taken = [r for r in results if r is not None]
    assert len(taken) == 20 and len(set(taken)) == 20


async def test_upsert_inserts_once(store: DocumentStore) -> None:
    counters = store.collection("users")
    first = await counters.find_one_and_update(
        {"usernameLower": "counter"},
        {"$inc": {"value": 1}, "$setOnInsert": {"emailLower": "c@example.com"}},
        upsert=True,
    )
    second = await counters.find_one_and_update({"usernameLower": "counter"}, {"$inc": {"value": 1}}, upsert=True)
    assert first is not None and second is not None
    assert first["value"] == 1 and second["value"] == 2 and first["id"] == second["id"]
    assert second["emailLower"] == "c@example.com"
    assert await counters.count({"usernameLower": "counter"}) == 1


async def test_replace_update_many_delete(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(n, group="g") for n in range(1, 5)])
    assert await users.update_many({"group": "g"}, {"$set": {"seen": True}}) == 4
    assert await users.replace_one({"usernameLower": "user1"}, user_doc(1, replaced=True))
    doc = await users.find_one({"usernameLower": "user1"})
    assert doc is not None and doc["replaced"] is True and "seen" not in doc
    assert await users.delete_one({"usernameLower": "user2"}) is True
    assert await users.delete_one({"usernameLower": "user2"}) is False
    assert await users.delete_many({"group": "g"}) == 2  # the replaced document has no group any more
    assert await users.count({}) == 1


async def test_count_by_groups_values(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(n, color=["red", "blue"][n % 2]) for n in range(1, 6)] + [user_doc(9)])
    assert await users.count_by({}, "color") == {"red": 2, "blue": 3}
    assert await users.count_by({"color": "red"}, "color") == {"red": 2}


@pytest.mark.parametrize(
    "bad_filter",
    [
        {"usernameLower": {"$ne": None, "$where": "1"}},
        {"usernameLower": {"$regex": ".*"}},
        {"$where": "sleep(1000)"},
        {"profile.$secret": 1},
        {"usernameLower": {"nested": "object"}},
        {"usernameLower": ["a", "b"]},
        {"usernameLower": {}},
        {"$or": []},
    ],
)
async def test_operator_injection_is_refused(store: DocumentStore, bad_filter: dict[str, object]) -> None:
    users = store.collection("users")
    await users.insert_one(user_doc(1))
    with pytest.raises(InvalidQueryError):
        await users.find(bad_filter)


@pytest.mark.parametrize(
    "bad_update",
    [{"$rename": {"a": "b"}}, {"$set": {"$x": 1}}, {"$set": {"id": "other"}}, {"$inc": {"n": "1"}}, {}],
)
async def test_unsupported_updates_are_refused(store: DocumentStore, bad_update: dict[str, object]) -> None:
    users = store.collection("users")
    await users.insert_one(user_doc(1))
    with pytest.raises(InvalidQueryError):
        await users.update_one({"usernameLower": "user1"}, bad_update)


async def test_migrations_are_recorded_and_idempotent(store: DocumentStore) -> None:
    applied = await store.applied_migrations()
    assert "0001_accounts" in applied
    assert await store.migrate() == []
    await store.ping()


async def test_dump_lists_every_collection(store: DocumentStore) -> None:
    await store.collection("users").insert_one(user_doc(1))
    dump = await store.dump()
    assert [d["usernameLower"] for d in dump["users"]] == ["user1"]
