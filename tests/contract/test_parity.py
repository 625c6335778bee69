"""Engine parity: each semantic where SQLite and MongoDB could disagree, decided once (MongoDB's rule, see the
port's docstring) and checked on every adapter (sqlite, mongomock, and a real MongoDB when
CONNECTNOW_TEST_MONGODB_URL is set)."""

from __future__ import annotations

from typing import Any

import pytest

from connectnow.store.port import DocumentStore, DuplicateKeyError
from tests.contract.test_documents import user_doc


async def names(store: DocumentStore, flt: dict[str, Any]) -> list[str]:
    docs = await store.collection("users").find(flt, sort=[("usernameLower", 1)])
    return [d["usernameLower"] for d in docs]


async def seed_mixed(store: DocumentStore) -> None:
    """One field holding a number, a numeric string, booleans, 0/1 and nothing, one per user."""
    await store.collection("users").insert_many(
        [
            user_doc(1, v=10),
            user_doc(2, v="10"),
            user_doc(3, v=True),
            user_doc(4, v=1),
            user_doc(5, v=False),
            user_doc(6, v=0),
            user_doc(7),
            user_doc(8, v=2.5),
        ]
    )


async def test_ne_and_nin_keep_documents_lacking_the_field(store: DocumentStore) -> None:
    await seed_mixed(store)
    assert await names(store, {"v": {"$nin": [10, "10"]}}) == ["user3", "user4", "user5", "user6", "user7", "user8"]
    assert "user7" in await names(store, {"v": {"$ne": 10}})
    assert "user7" in await names(store, {"v": {"$nin": []}})
    # None among the excluded values excludes the documents without the field.
    assert "user7" not in await names(store, {"v": {"$nin": [None, 10]}})
    assert await names(store, {"v": {"$ne": None}}) == [f"user{n}" for n in (1, 2, 3, 4, 5, 6, 8)]


async def test_comparisons_stay_within_the_type_bracket(store: DocumentStore) -> None:
    await seed_mixed(store)
    # Numbers compare with numbers only: neither the string "10" nor a boolean is greater than 2.
    assert await names(store, {"v": {"$gt": 2}}) == ["user1", "user8"]
    assert await names(store, {"v": {"$lte": 1}}) == ["user4", "user6"]
    # Strings compare with strings only.
    assert await names(store, {"v": {"$gt": "1"}}) == ["user2"]
    assert await names(store, {"v": {"$lt": "9"}}) == ["user2"]
    # Booleans with booleans: false < true.
    assert await names(store, {"v": {"$gt": False}}) == ["user3"]


async def test_booleans_never_equal_numbers(store: DocumentStore) -> None:
    await seed_mixed(store)
    assert await names(store, {"v": True}) == ["user3"]
    assert await names(store, {"v": 1}) == ["user4"]
    assert await names(store, {"v": False}) == ["user5"]
    assert await names(store, {"v": 0}) == ["user6"]
    assert await names(store, {"v": {"$in": [1, 0]}}) == ["user4", "user6"]
    assert await names(store, {"v": {"$in": [True]}}) == ["user3"]
    assert await names(store, {"v": {"$in": [False, 10]}}) == ["user1", "user5"]
    assert await names(store, {"v": "10"}) == ["user2"]
    assert await names(store, {"v": 10}) == ["user1"]
    assert "user3" in await names(store, {"v": {"$ne": 1}})
    assert "user4" not in await names(store, {"v": {"$ne": 1}})
    assert await store.collection("users").count({"v": {"$nin": [True, 1]}}) == 6


async def test_booleans_and_numbers_in_scalar_arrays(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([user_doc(1, xs=[True, "a"]), user_doc(2, xs=[1, 5]), user_doc(3, xs=["10"])])
    assert await names(store, {"xs": {"$elemMatch": {"$eq": True}}}) == ["user1"]
    assert await names(store, {"xs": {"$elemMatch": {"$eq": 1}}}) == ["user2"]
    assert await names(store, {"xs": {"$elemMatch": {"$in": [10, "a"]}}}) == ["user1"]


async def test_insert_many_is_ordered_and_keeps_the_documents_before_a_failure(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_one(user_doc(3))
    clash = user_doc(3, emailLower="other@example.com", usernameLower="other")  # the same id only
    batch = [user_doc(1), user_doc(2), clash, user_doc(4)]
    with pytest.raises(DuplicateKeyError) as failed:
        await users.insert_many(batch)
    assert failed.value.index == "primary"
    assert failed.value.inserted == 2
    assert "after inserting 2" in str(failed.value)
    # The two before the duplicate are stored; the one after it was never tried.
    assert await names(store, {}) == ["user1", "user2", "user3"]


async def test_insert_many_failing_on_a_unique_index_names_it(store: DocumentStore) -> None:
    users = store.collection("users")
    with pytest.raises(DuplicateKeyError) as failed:
        await users.insert_many([user_doc(1), user_doc(2, emailLower="u1@example.com"), user_doc(3)])
    assert (failed.value.index, failed.value.inserted) == ("ux_users_email", 1)
    assert await names(store, {}) == ["user1"]


async def test_insert_many_of_nothing_or_all_valid(store: DocumentStore) -> None:
    users = store.collection("users")
    await users.insert_many([])
    await users.insert_many([user_doc(n) for n in range(1, 6)])
    assert await users.count({}) == 5


def message(num: int, content: str, conversation: str = "c1") -> dict[str, object]:
    return {"id": f"{num:024x}", "channelId": conversation, "seq": num, "dedupeKey": f"k{num}", "content": content}


async def test_text_search_guarantees_shared_by_both_engines(store: DocumentStore) -> None:
    """Only what port.DocumentCollection.text_search promises on every engine: whole words, any case, any of
    the words, within the filter, limited; no ranking or stemming assumptions."""
    messages: Any = store.collection("messages")
    await messages.insert_many(
        [
            message(1, "Deploy the gateway tonight"),
            message(2, "lunch plans for friday"),
            message(3, "GATEWAY latency graphs attached"),
            message(4, "gateway in the other room", conversation="c2"),
            message(5, "nothing relevant here"),
        ]
    )
    found = await messages.text_search("gateway", {"channelId": "c1"})
    assert sorted(d["seq"] for d in found) == [1, 3]
    any_word = await messages.text_search("lunch latency", {"channelId": "c1"})
    assert sorted(d["seq"] for d in any_word) == [2, 3]
    assert len(await messages.text_search("gateway", {}, limit=2)) == 2
    assert await messages.text_search("zebra", {}) == []
    assert await messages.text_search("   ", {}) == []
