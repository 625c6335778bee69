"""Short transactions on SQLite (`transaction(short=True)`, the message log's steps): once the write lock is
held, their statements run on the event loop's thread instead of a trip each to aiosqlite's thread. Same
semantics as any transaction: atomic, reads see the block's writes, a failed statement undoes itself."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from connectnow.store.port import DuplicateKeyError
from connectnow.store.store_sqlite import (
    BUSY_TIMEOUT_MS,
    CHECKPOINT_EVERY_COMMITS,
    INLINE_TEXT_BYTES,
    SqliteStore,
    sqlite_connection,
)
from tests.contract.test_documents import user_doc


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "inline.db")
    await store.open()
    await store.migrate()
    yield store
    await store.close()


def trace_threads(store: SqliteStore) -> list[tuple[str, int]]:
    """(statement, thread id) of every statement the writer connection runs from now on."""
    seen: list[tuple[str, int]] = []
    sqlite_connection(store.writer).set_trace_callback(lambda text: seen.append((text, threading.get_ident())))
    return seen


async def test_aiosqlite_still_exposes_its_connection() -> None:
    """The one aiosqlite internal the store touches (`Connection._conn`): an upgrade that moves it fails here."""
    conn = await aiosqlite.connect(":memory:", check_same_thread=False)
    try:
        assert isinstance(sqlite_connection(conn), sqlite3.Connection)
    finally:
        await conn.close()


async def test_a_short_transaction_runs_its_statements_on_the_loop_thread(sqlite_store: SqliteStore) -> None:
    users = sqlite_store.collection("users")
    seen = trace_threads(sqlite_store)
    loop_thread = threading.get_ident()
    async with sqlite_store.transaction(short=True):
        await users.insert_one(user_doc(1))
        assert await users.update_one({"usernameLower": "user1"}, {"$set": {"v": 2}})
        assert (await users.find_one({"usernameLower": "user1"}) or {}).get("v") == 2  # sees its own write
    inline = [text for text, thread in seen if thread == loop_thread]
    elsewhere = [text for text, thread in seen if thread != loop_thread]
    assert any(text.startswith("INSERT") for text in inline) and any(text.startswith("UPDATE") for text in inline)
    assert "BEGIN IMMEDIATE" in inline and "COMMIT" in inline, elsewhere  # nobody else held the lock
    assert not any(text.startswith(("BEGIN", "COMMIT", "INSERT", "UPDATE")) for text in elsewhere), elsewhere

    seen.clear()
    async with sqlite_store.transaction():  # not short: every statement on aiosqlite's thread
        await users.update_one({"usernameLower": "user1"}, {"$set": {"v": 3}})
    assert seen and all(thread != loop_thread for _, thread in seen)


async def test_a_short_transaction_is_atomic(sqlite_store: SqliteStore) -> None:
    users = sqlite_store.collection("users")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with sqlite_store.transaction(short=True):
            await users.insert_many([user_doc(1), user_doc(2)])
            raise Boom
    assert await users.count({}) == 0

    async with sqlite_store.transaction(short=True):
        await users.insert_one(user_doc(1))
        with pytest.raises(DuplicateKeyError):  # the failing statement undoes itself; the block goes on
            await users.insert_one(user_doc(1))
        await users.insert_one(user_doc(2))
    assert await users.count({}) == 2


async def test_writes_of_much_text_stay_off_the_loop(sqlite_store: SqliteStore) -> None:
    """A table with a text index (messages) has FTS5 triggers whose work grows with the text: a write of more
    than INLINE_TEXT_BYTES of it goes to aiosqlite's thread even in a short transaction; a small one (a chat
    message), a read of the table and other tables' writes stay inline."""
    messages, counters = sqlite_store.collection("messages"), sqlite_store.collection("conversation_counters")
    seen = trace_threads(sqlite_store)
    loop_thread = threading.get_ident()
    big = "hello " * (INLINE_TEXT_BYTES // 6 + 1)
    async with sqlite_store.transaction(short=True):
        await counters.update_one({"id": "channel:c1"}, {"$inc": {"seq": 1}}, upsert=True)
        assert await messages.find_one({"dedupeKey": "k1"}) is None
        await messages.insert_many([{"channelId": "c1", "content": big, "dedupeKey": "k1", "seq": 1}])
        await messages.insert_many([{"channelId": "c1", "content": "hi", "dedupeKey": "k2", "seq": 2}])
        await messages.insert_many(  # many small ones add up
            [{"channelId": "c1", "content": "é" * 100, "dedupeKey": f"k{n}", "seq": n} for n in range(3, 14)]
        )
    on_loop = [text for text, thread in seen if thread == loop_thread]
    off_loop = [text for text, thread in seen if thread != loop_thread]
    big_inserts = [text for text in off_loop if text.startswith("INSERT INTO messages")]
    assert any('"k1"' in text for text in big_inserts) and any('"k13"' in text for text in big_inserts), off_loop
    assert any(text.startswith("INSERT INTO messages") and '"k2"' in text for text in on_loop), on_loop
    assert not any(text.startswith("INSERT INTO messages") and '"k1"' in text for text in on_loop)
    assert any(text.startswith("UPDATE conversation_counters") for text in on_loop), on_loop
    assert any(text.startswith("INSERT INTO conversation_counters") for text in on_loop), on_loop  # the upsert
    assert any(text.startswith("SELECT") and "FROM messages" in text for text in on_loop), on_loop
    assert (await messages.find_one({"dedupeKey": "k1"}) or {}).get("seq") == 1
    assert await messages.count({}) == 13
    assert [m["id"] for m in await messages.text_search("hello", {}, limit=5)]  # indexed either way
    assert [m["id"] for m in await messages.text_search("hi", {}, limit=5)]

    seen.clear()  # an update un-indexes the old text, which its parameters do not show: off the loop
    async with sqlite_store.transaction(short=True):
        assert await messages.update_one({"dedupeKey": "k1"}, {"$set": {"content": "bye"}})
    assert not any(text.startswith("UPDATE messages") for text, thread in seen if thread == loop_thread), seen
    assert not await messages.text_search("hello", {}, limit=5)


async def test_a_short_transaction_waits_for_another_process_off_the_loop(sqlite_store: SqliteStore) -> None:
    """When another process holds SQLite's write lock, BEGIN waits for it on aiosqlite's thread: the event loop
    goes on meanwhile, and the write lands once the other process commits."""
    users = sqlite_store.collection("users")
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)  # another process's connection
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE other_process (x)")
        seen = trace_threads(sqlite_store)
        loop_thread = threading.get_ident()

        async def step() -> None:
            async with sqlite_store.transaction(short=True):
                await users.insert_one(user_doc(1))

        task = asyncio.create_task(step())
        ticks = 0
        for _ in range(20):  # the loop keeps running while the step waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not task.done()
        other.execute("COMMIT")
        await asyncio.wait_for(task, 10)
    finally:
        other.close()
    assert await users.count({}) == 1
    assert [thread != loop_thread for text, thread in seen if text == "BEGIN IMMEDIATE"][-1:] == [True]
    assert ("COMMIT", loop_thread) in seen  # once it holds the lock, the rest runs inline
    timeout = sqlite_connection(sqlite_store.writer).execute("PRAGMA busy_timeout").fetchone()[0]
    assert timeout == BUSY_TIMEOUT_MS  # the inline attempt's zero timeout was put back


async def test_the_writer_checkpoints_off_the_loop(sqlite_store: SqliteStore) -> None:
    """A COMMIT on the loop's thread must not checkpoint (it copies pages and syncs): the writer never does;
    every CHECKPOINT_EVERY_COMMITS commits a PASSIVE checkpoint runs on aiosqlite's thread between writes, so
    the log does not grow without end under steady writes."""
    users = sqlite_store.collection("users")
    writer = sqlite_connection(sqlite_store.writer)
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert sqlite_store.checkpoint_every == CHECKPOINT_EVERY_COMMITS
    sqlite_store.checkpoint_every = 16  # the same rule at a test's size
    await users.insert_one(user_doc(0))
    rounds = 512
    for n in range(rounds):
        async with sqlite_store.transaction(short=True):
            await users.update_one({"usernameLower": "user0"}, {"$set": {"n": n, "pad": "x" * 2000}})
        await asyncio.sleep(0)
    for _ in range(100):
        if sqlite_store.checkpoints >= 10:
            break
        await asyncio.sleep(0.01)
    assert sqlite_store.checkpoints >= 10
    # Each commit appends at least one page to the log (~3 here); checkpointed, the next write starts it over.
    with sqlite3.connect(sqlite_store.path) as probe:
        busy, frames, _ = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert not busy and frames < rounds / 2, frames
    assert (await users.find_one({"usernameLower": "user0"}) or {}).get("n") == rounds - 1


async def test_a_lone_write_is_one_statement(sqlite_store: SqliteStore) -> None:
    """Outside a transaction, an update of one document or an insert of one is a single statement, atomic by
    itself: one trip to aiosqlite's thread, no BEGIN or COMMIT. A failing one stores nothing."""
    users = sqlite_store.collection("users")
    seen = trace_threads(sqlite_store)
    await users.insert_one(user_doc(1))
    assert await users.update_one({"usernameLower": "user1"}, {"$set": {"v": 2}})
    assert not await users.update_one({"usernameLower": "nobody"}, {"$set": {"v": 3}})
    with pytest.raises(DuplicateKeyError) as duplicate:
        await users.insert_one(user_doc(1))
    assert duplicate.value.inserted == 0
    statements = [text.split(" ")[0] for text, _ in seen if not text.startswith("--")]
    assert statements == ["INSERT", "UPDATE", "UPDATE", "INSERT"], seen
    assert await users.count({}) == 1 and (await users.find_one({"usernameLower": "user1"}) or {}).get("v") == 2
    # An upsert (update, then insert when nothing matched) is still one transaction.
    seen.clear()
    await users.update_one({"id": "u9", "usernameLower": "user9"}, {"$set": {"v": 9}}, upsert=True)
    upsert = [text.split(" ")[0] for text, _ in seen if not text.startswith("--")]
    assert upsert[:1] == ["BEGIN"] and upsert[-1] == "COMMIT", seen
