"""Short transactions on SQLite (`transaction(short=True)`, the message log's steps): once the write lock is
held, their statements run on the event loop's thread instead of a trip each to aiosqlite's thread. Same
semantics as any transaction: atomic, reads see the block's writes, a failed statement undoes itself."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from connectnow.store.port import DuplicateKeyError
from connectnow.store.store_sqlite import SqliteStore, sqlite_connection
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
    assert "BEGIN IMMEDIATE" in elsewhere and "COMMIT" in elsewhere  # may wait for a lock or checkpoint

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


async def test_writes_that_index_text_stay_off_the_loop(sqlite_store: SqliteStore) -> None:
    """A table with a text index (messages) has FTS5 triggers whose work grows with the text: its writes go
    to aiosqlite's thread even in a short transaction; a read of it and other tables' writes stay inline."""
    messages, counters = sqlite_store.collection("messages"), sqlite_store.collection("conversation_counters")
    seen = trace_threads(sqlite_store)
    loop_thread = threading.get_ident()
    async with sqlite_store.transaction(short=True):
        await counters.update_one({"id": "channel:c1"}, {"$inc": {"seq": 1}}, upsert=True)
        assert await messages.find_one({"dedupeKey": "k1"}) is None
        await messages.insert_many([{"channelId": "c1", "content": "hello " * 500, "dedupeKey": "k1", "seq": 1}])
    on_loop = [text for text, thread in seen if thread == loop_thread]
    off_loop = [text for text, thread in seen if thread != loop_thread]
    assert any(text.startswith("INSERT INTO messages") for text in off_loop), off_loop
    assert any(text.startswith("UPDATE conversation_counters") for text in on_loop), on_loop
    assert any(text.startswith("INSERT INTO conversation_counters") for text in on_loop), on_loop  # the upsert
    assert any(text.startswith("SELECT") and "FROM messages" in text for text in on_loop), on_loop
    assert not any("messages" in text.split("WHERE")[0] for text in on_loop if not text.startswith("SELECT"))
    assert (await messages.find_one({"dedupeKey": "k1"}) or {}).get("seq") == 1
