"""Migration 0155 on SQLite: the messages' FTS5 update trigger re-indexes a row only when its text changes, so
a reaction, pin or read stamp (an update of the message document) leaves the search table alone, an edit still
re-indexes it, and a database made before 0155 migrates to it with its search intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectnow.store import store_sqlite
from connectnow.store.schema import all_migrations
from connectnow.store.store_sqlite import SqliteStore, sqlite_connection

MIGRATION = "0155_message_search_trigger"


async def update_changes(store: SqliteStore, message_id: str, fields: dict[str, object]) -> int:
    """Rows an update of one message changes (SQLite's total_changes): 1 for the message alone, more when a
    trigger re-indexes its text (the FTS5 row and its shadow tables)."""
    raw = sqlite_connection(store.writer)
    before = raw.total_changes
    assert await store.collection("messages").update_one({"id": message_id}, {"$set": fields})
    return raw.total_changes - before


async def found(store: SqliteStore, word: str) -> list[str]:
    return [d["id"] for d in await store.collection("messages").text_search(word, {})]


async def trigger_sql(store: SqliteStore) -> str:
    rows = await store.read("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'messages__fts_au'", [])
    return str(rows[0][0])


async def check_search_rows_follow_text_only(store: SqliteStore, message_id: str, word: str) -> None:
    assert await update_changes(store, message_id, {"isPinned": True, "lastEventSeq": 7}) == 1
    assert await update_changes(store, message_id, {"reactionCount": 3}) == 1
    assert await found(store, word) == [message_id]
    # An edit: the old row out, the new one in.
    assert await update_changes(store, message_id, {"content": "edited words", "isEdited": True}) > 1
    assert await found(store, word) == [] and await found(store, "edited") == [message_id]
    # A soft delete clears the text: it leaves the index.
    assert await update_changes(store, message_id, {"content": "", "isDeleted": True}) > 1
    assert await found(store, "edited") == []


async def test_updates_that_keep_the_text_leave_the_search_row_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "fts.db")
    await store.open()
    try:
        await store.migrate()
        assert "WHEN" in await trigger_sql(store)
        await store.collection("messages").insert_one({"id": "m1", "channelId": "c", "content": "alpha beta"})
        await check_search_rows_follow_text_only(store, "m1", "alpha")
    finally:
        await store.close()


async def test_a_database_made_before_0155_migrates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    earlier = [m for m in all_migrations() if m.id != MIGRATION]
    monkeypatch.setattr(store_sqlite, "all_migrations", lambda: earlier)
    old = SqliteStore(path)
    await old.open()
    try:
        await old.migrate()
        assert "WHEN" not in await trigger_sql(old)
        await old.collection("messages").insert_many(
            [{"id": f"m{n}", "channelId": "c", "content": f"gamma word{n}"} for n in range(3)]
        )
        assert await update_changes(old, "m0", {"isPinned": True}) > 1  # the old trigger: every update
    finally:
        await old.close()
    monkeypatch.undo()

    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.migrate() == [MIGRATION]
        assert "WHEN" in await trigger_sql(store)
        assert sorted(await found(store, "gamma")) == ["m0", "m1", "m2"]
        await check_search_rows_follow_text_only(store, "m1", "word1")
        assert sorted(await found(store, "gamma")) == ["m0", "m2"]
        assert await store.migrate() == []
    finally:
        await store.close()
