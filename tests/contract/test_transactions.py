"""The storage contract for `transaction()`: all or nothing where the engine can (SQLite), in order on both."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from connectnow.store.port import DocumentStore, DuplicateKeyError
from tests.conftest import open_test_store

COUNTERS = "conversation_counters"


class Boom(Exception):
    pass


async def test_block_commits_and_reads_see_its_own_writes(store: DocumentStore) -> None:
    coll = store.collection(COUNTERS)
    async with store.transaction():
        await coll.insert_one({"id": "a", "seq": 1})
        seen = await coll.find_one({"id": "a"})
        assert seen is not None and seen["seq"] == 1  # a read inside sees the block's own write
        await coll.find_one_and_update({"id": "a"}, {"$inc": {"seq": 1}})
    doc = await coll.find_one({"id": "a"})
    assert doc is not None and doc["seq"] == 2


async def test_a_raising_block_leaves_nothing_where_atomic(store: DocumentStore) -> None:
    coll = store.collection(COUNTERS)
    await coll.insert_one({"id": "b", "seq": 5})
    with pytest.raises(Boom):
        async with store.transaction():
            await coll.find_one_and_update({"id": "b"}, {"$inc": {"seq": 1}})
            await coll.insert_one({"id": "c", "seq": 1})
            raise Boom
    b, c = await coll.find_one({"id": "b"}), await coll.find_one({"id": "c"})
    assert b is not None
    if store.atomic_transactions:
        assert b["seq"] == 5 and c is None  # rolled back: none of it happened
    else:
        assert b["seq"] == 6 and c is not None  # write by write: what ran is stored (callers repair)


async def test_a_refused_write_inside_undoes_only_itself(store: DocumentStore) -> None:
    coll = store.collection(COUNTERS)
    await coll.insert_one({"id": "d", "seq": 1})
    async with store.transaction():
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"id": "d", "seq": 99})
        await coll.find_one_and_update({"id": "d"}, {"$inc": {"seq": 1}})
    doc = await coll.find_one({"id": "d"})
    assert doc is not None and doc["seq"] == 2


async def test_nested_blocks_join_the_outer_one(store: DocumentStore) -> None:
    coll = store.collection(COUNTERS)
    with pytest.raises(Boom):
        async with store.transaction():
            async with store.transaction():
                await coll.insert_one({"id": "e", "seq": 1})
            raise Boom
    assert (await coll.find_one({"id": "e"}) is None) is store.atomic_transactions


async def test_concurrent_sqlite_blocks_do_not_interleave(tmp_path: Path) -> None:
    """Read-then-write inside a block is safe against other blocks: no lost updates. (MongoDB has no such
    blocks: MessageLog serializes there with a lease, tested in tests/chat.)"""
    store = await open_test_store("sqlite", tmp_path)
    coll = store.collection(COUNTERS)
    await coll.insert_one({"id": "f", "seq": 0})

    async def bump() -> None:
        async with store.transaction():
            doc = await coll.find_one({"id": "f"})
            assert doc is not None
            await asyncio.sleep(0)
            await coll.update_one({"id": "f"}, {"$set": {"seq": doc["seq"] + 1}})

    try:
        await asyncio.gather(*(bump() for _ in range(20)))
        doc = await coll.find_one({"id": "f"})
        assert doc is not None and doc["seq"] == 20
    finally:
        await store.close()
