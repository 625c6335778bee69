"""The SQLite adapter: the embedded default, so `connectnow serve` runs with nothing else installed.

Each collection is a table `(id TEXT PRIMARY KEY, doc TEXT)` holding the document as JSON, with real
(expression) indexes and unique constraints from the migrations, and an FTS5 table kept by triggers for
full-text search. WAL mode; one writer connection (writes are serialized, compound writes run inside
`BEGIN IMMEDIATE` so they are atomic against other processes too) and one reader connection.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import aiosqlite

from connectnow.clock import new_id, utcnow
from connectnow.store import sqlite_shapes as shapes
from connectnow.store import sqlite_sql as sql
from connectnow.store.port import (
    EARTH_RADIUS_METERS,
    Document,
    DuplicateKeyError,
    Filter,
    Sort,
    StoreError,
    Update,
    check_field,
    check_filter,
    check_near,
    haversine_meters,
    normalize_update,
    strip_none,
)
from connectnow.store.schema import (
    GeoIndex,
    Index,
    Migration,
    TextIndex,
    all_migrations,
    geo_index_for,
    text_index_for,
)

log = logging.getLogger("connectnow.store.sqlite")

BUSY_TIMEOUT_MS = 10_000
# The writer does not checkpoint on COMMIT (a short transaction commits on the event loop's thread, and a
# checkpoint copies pages and syncs): every this many commits, a PASSIVE checkpoint runs on aiosqlite's thread.
# SQLite's own default is every 1,000 pages; a step of one message writes ~15 (measured).
CHECKPOINT_EVERY_COMMITS = 128
# A short transaction's plain INSERT into a table with a text index runs inline when its text is at most this
# size: the FTS5 trigger then takes at most ~0.4 ms (4 KiB of one- to three-letter words, measured; a chat
# message of 200 bytes: ~60 us, less than the hand-off it saves). Larger inserts go to aiosqlite's thread.
INLINE_TEXT_BYTES = 4 * 1024
# The store whose transaction the current task is inside (its reads and writes then use the writer, unlocked).
_IN_TRANSACTION: ContextVar[SqliteStore | None] = ContextVar("connectnow_sqlite_transaction", default=None)
# The store whose current transaction is `short` (see `SqliteStore.transaction`): its statements run inline.
_INLINE: ContextVar[SqliteStore | None] = ContextVar("connectnow_sqlite_inline", default=None)
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '([^']+)'")


@functools.cache
def _has_text_index(table: str) -> bool:
    return text_index_for(table) is not None


def _small_text(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether the statements' string parameters hold at most INLINE_TEXT_BYTES in all (characters counted
    as up to 4 bytes each, so the bound holds for any text)."""
    budget = INLINE_TEXT_BYTES
    for row in rows:
        for value in row:
            if isinstance(value, str):
                budget -= len(value) * 4 if not value.isascii() else len(value)
                if budget < 0:
                    return False
    return True


def sqlite_connection(conn: aiosqlite.Connection) -> sqlite3.Connection:
    """aiosqlite's sqlite3 connection. The one touch point of aiosqlite's internals (its `_conn` property,
    which aiosqlite itself reads on the event loop's thread); tests/contract/test_sqlite_inline.py fails
    loudly if an upgrade changes it."""
    raw = conn._conn
    if not isinstance(raw, sqlite3.Connection):
        raise StoreError(f"aiosqlite {aiosqlite.__version__} no longer exposes its sqlite3 connection as _conn")
    return raw


def _table(name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise StoreError(f"invalid collection name {name!r}")
    return name


def _fts_query(text: str) -> str:
    """Any of the words, each quoted so FTS5 syntax in user input is inert."""
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words[:32])


class SqliteCollection:
    def __init__(self, store: SqliteStore, name: str) -> None:
        self.name = _table(name)
        self._store = store

    def _duplicate(self, exc: sqlite3.IntegrityError) -> DuplicateKeyError:
        match = _UNIQUE_INDEX.search(str(exc))
        if match:
            return DuplicateKeyError(self.name, match.group(1))
        if f"{self.name}.id" in str(exc):
            return DuplicateKeyError(self.name, "primary")
        return DuplicateKeyError(self.name, None)

    async def insert_one(self, doc: Document) -> None:
        await self.insert_many([doc])

    async def insert_many(self, docs: Sequence[Document]) -> None:
        rows = []
        for doc in docs:
            body = strip_none(doc)
            doc_id = body.pop("id", None) or new_id()
            rows.append((doc_id, sql.dumps(body)))
        try:
            await self._store.write_many(f"INSERT INTO {self.name} (id, doc) VALUES (?, ?)", rows, self.name)
        except _PartialWrite as partial:
            dup = self._duplicate(partial.cause)
            raise DuplicateKeyError(self.name, dup.index, inserted=partial.done) from partial.cause

    def _select(self, flt: Filter, sort: Sort | None, limit: int | None, skip: int) -> tuple[str, list[Any]]:
        params: list[Any] = []
        query = f"SELECT id, doc FROM {self.name} WHERE {shapes.where(flt, params)}{shapes.order_by(sort)}"
        if limit is not None or skip:
            query += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else int(limit), int(skip)]
        return query, params

    async def find_one(self, flt: Filter, *, sort: Sort | None = None) -> Document | None:
        rows = await self.find(flt, sort=sort, limit=1)
        return rows[0] if rows else None

    async def find(
        self, flt: Filter, *, sort: Sort | None = None, limit: int | None = None, skip: int = 0
    ) -> list[Document]:
        query, params = self._select(flt, sort, limit, skip)
        return [_decode(row) for row in await self._store.read(query, params)]

    async def iterate(self, flt: Filter, *, sort: Sort | None = None, batch_size: int = 500) -> AsyncIterator[Document]:
        query, params = self._select(flt, sort, None, 0)
        async for row in self._store.stream(query, params, batch_size):
            yield _decode(row)

    async def count(self, flt: Filter) -> int:
        params: list[Any] = []
        rows = await self._store.read(f"SELECT COUNT(*) FROM {self.name} WHERE {shapes.where(flt, params)}", params)
        return int(rows[0][0])

    async def count_by(self, flt: Filter, field: str) -> dict[Any, int]:
        params: list[Any] = []
        where = shapes.where(flt, params)
        expr = sql.field_expr(field)
        query = f"SELECT {expr}, COUNT(*) FROM {self.name} WHERE {where} AND {expr} IS NOT NULL GROUP BY {expr}"
        return {key: int(n) for key, n in await self._store.read(query, params)}

    def _update_sql(self, flt: Filter, update: Update, sort: Sort | None, limit_one: bool) -> tuple[str, list[Any]]:
        params: list[Any] = []
        where = shapes.where(flt, params)  # the filter is checked before the update, as it always was
        set_params: list[Any] = []
        set_expr = shapes.update_expr(update, set_params)
        params[:0] = set_params
        target = f"SELECT id FROM {self.name} WHERE {where}{shapes.order_by(sort)}"
        if limit_one:
            target += " LIMIT 1"
        return f"UPDATE {self.name} SET doc = {set_expr} WHERE id IN ({target}) RETURNING id, doc", params

    async def update_one(self, flt: Filter, update: Update, *, upsert: bool = False) -> bool:
        return await self.find_one_and_update(flt, update, upsert=upsert) is not None

    async def update_many(self, flt: Filter, update: Update) -> int:
        query, params = self._update_sql(flt, update, None, limit_one=False)
        try:
            return len(await self._store.write(query, params, self.name))
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc

    async def find_one_and_update(
        self,
        flt: Filter,
        update: Update,
        *,
        sort: Sort | None = None,
        upsert: bool = False,
        return_new: bool = True,
    ) -> Document | None:
        query, params = self._update_sql(flt, update, sort, limit_one=True)
        before_query, before_params = self._select(flt, sort, 1, 0) if not return_new else (None, [])
        insert = _upsert_document(flt, update) if upsert else None
        try:
            before, after = await self._store.update_returning(
                before_query, before_params, query, params, self.name, insert
            )
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc
        if return_new:
            return _decode(after) if after else None
        return _decode(before) if before else None

    async def replace_one(self, flt: Filter, doc: Document) -> bool:
        params: list[Any] = []
        where = shapes.where(flt, params)
        body = strip_none(doc)
        body.pop("id", None)
        params.insert(0, sql.dumps(body))
        query = (
            f"UPDATE {self.name} SET doc = ? WHERE id IN "
            f"(SELECT id FROM {self.name} WHERE {where} LIMIT 1) RETURNING id"
        )
        try:
            return bool(await self._store.write(query, params, self.name))
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(exc) from exc

    async def delete_one(self, flt: Filter) -> bool:
        params: list[Any] = []
        query = (
            f"DELETE FROM {self.name} WHERE id IN "
            f"(SELECT id FROM {self.name} WHERE {shapes.where(flt, params)} LIMIT 1) RETURNING id"
        )
        return bool(await self._store.write(query, params, self.name))

    async def delete_many(self, flt: Filter) -> int:
        params: list[Any] = []
        return len(
            await self._store.write(
                f"DELETE FROM {self.name} WHERE {shapes.where(flt, params)} RETURNING id", params, self.name
            )
        )

    async def text_search(self, text: str, flt: Filter, *, limit: int = 50) -> list[Document]:
        """Documents matching any word of `text`, best match first, within `flt`."""
        check_filter(flt)
        if text_index_for(self.name) is None:
            raise StoreError(f"collection {self.name} has no text index")
        query_text = _fts_query(text)
        if not query_text:
            return []
        params: list[Any] = [query_text]
        query = (
            f"SELECT t.id, t.doc FROM {self.name}__fts f JOIN {self.name} t ON t.rowid = f.rowid "
            f"WHERE {self.name}__fts MATCH ? AND {shapes.where(flt, params, doc='t.doc')} "
            f"ORDER BY f.rank LIMIT ?"
        )
        params.append(int(limit))
        return [_decode(row) for row in await self._store.read(query, params)]

    async def near(
        self, field: str, lng: float, lat: float, *, max_meters: float, flt: Filter, limit: int = 50
    ) -> list[tuple[Document, float]]:
        """Bounding box on the indexed (lat, lng) expressions, then exact haversine distances."""
        check_filter(flt)
        check_near(lng, lat, max_meters, limit)
        if geo_index_for(self.name, field) is None:
            raise StoreError(f"collection {self.name} has no geo index on {field}")
        lat_expr, lng_expr = _geo_exprs(field)
        params: list[Any] = []
        box = _bounding_box(lng, lat, max_meters, lat_expr, lng_expr, params)
        query = f"SELECT id, doc FROM {self.name} WHERE {box} AND {shapes.where(flt, params)}"
        nearest: list[tuple[float, int, Document]] = []
        seen = 0
        async for row in self._store.stream(query, params, 500):
            doc = _decode(row)
            point = (doc.get(field) or {}).get("coordinates") or []
            if len(point) != 2:
                continue
            distance = haversine_meters(lng, lat, float(point[0]), float(point[1]))
            if distance <= max_meters:
                seen += 1
                # A bounded max-heap (negated distances) keeps only the `limit` nearest in memory.
                heapq.heappush(nearest, (-distance, seen, doc))
                if len(nearest) > limit:
                    heapq.heappop(nearest)
        return [(doc, -neg) for neg, _, doc in sorted(nearest, key=lambda item: (-item[0], item[1]))]


def _geo_exprs(field: str) -> tuple[str, str]:
    check_field(field)
    return (
        f"json_extract(doc, '$.{field}.coordinates[1]')",
        f"json_extract(doc, '$.{field}.coordinates[0]')",
    )


def _bounding_box(lng: float, lat: float, meters: float, lat_expr: str, lng_expr: str, params: list[Any]) -> str:
    """SQL for the latitude/longitude box around a circle (Jan Matuschek's bounding-coordinates method)."""
    angular = meters / EARTH_RADIUS_METERS
    lat_r, lng_r = math.radians(lat), math.radians(lng)
    min_lat, max_lat = lat_r - angular, lat_r + angular
    params += [math.degrees(max(min_lat, -math.pi / 2)), math.degrees(min(max_lat, math.pi / 2))]
    clause = f"{lat_expr} BETWEEN ? AND ?"
    if min_lat <= -math.pi / 2 or max_lat >= math.pi / 2:
        return clause  # the circle covers a pole: every longitude is inside
    delta = math.asin(min(1.0, math.sin(angular) / math.cos(lat_r)))
    min_lng, max_lng = lng_r - delta, lng_r + delta
    if min_lng < -math.pi or max_lng > math.pi:
        # The box crosses the antimeridian: two longitude ranges.
        low = math.degrees(min_lng + 2 * math.pi if min_lng < -math.pi else min_lng)
        high = math.degrees(max_lng - 2 * math.pi if max_lng > math.pi else max_lng)
        params += [low, high]
        return f"{clause} AND ({lng_expr} >= ? OR {lng_expr} <= ?)"
    params += [math.degrees(min_lng), math.degrees(max_lng)]
    return f"{clause} AND {lng_expr} BETWEEN ? AND ?"


async def _pragma(conn: aiosqlite.Connection, statement: str) -> None:
    # Step the statement to completion: an open cursor would keep a lock on the database.
    async with conn.execute(f"PRAGMA {statement}") as cursor:
        await cursor.fetchall()


class _PartialWrite(Exception):
    """`done` rows were written (and committed) before `cause` stopped an ordered batch."""

    def __init__(self, done: int, cause: sqlite3.IntegrityError) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause


def _decode(row: Sequence[Any]) -> Document:
    doc: Document = sql.loads(row[1])
    doc["id"] = row[0]
    return doc


def _upsert_document(flt: Filter, update: Update) -> Document:
    """The document an upsert inserts: the filter's equality fields plus the update's values."""
    doc: Document = {k: v for k, v in flt.items() if not k.startswith("$") and not isinstance(v, dict)}
    norm = normalize_update(update)
    for op in ("$setOnInsert", "$set", "$max", "$min"):
        doc.update(norm.get(op, {}))
    for field, value in norm.get("$inc", {}).items():
        doc[field] = value
    for op in ("$push", "$addToSet"):
        for field, value in norm.get(op, {}).items():
            doc[field] = [value]
    for field in norm.get("$unset", {}):
        doc.pop(field, None)
    for key in doc:
        if "." in key:
            raise StoreError("upsert with dotted field names is not supported")
    return doc


class SqliteStore:
    kind = "sqlite"
    atomic_transactions = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._commits = 0  # since the last checkpoint
        self.checkpoint_every = CHECKPOINT_EVERY_COMMITS
        self._checkpoint: asyncio.Task[None] | None = None
        self.checkpoints = 0

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await _pragma(self._writer, "journal_mode=WAL")
        await _pragma(self._writer, "wal_autocheckpoint=0")  # see CHECKPOINT_EVERY_COMMITS
        self._reader = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        # check_same_thread=False: a short transaction's statements run on the event loop's thread (see
        # `transaction`); aiosqlite's own thread runs everything else, never at the same time.
        conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        await _pragma(conn, f"busy_timeout={BUSY_TIMEOUT_MS}")
        await _pragma(conn, "synchronous=NORMAL")
        return conn

    @property
    def writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise StoreError("SQLite store is not open")
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreError("SQLite store is not open")
        return self._reader

    def collection(self, name: str) -> SqliteCollection:
        return SqliteCollection(self, name)

    def _in_transaction(self) -> bool:
        return _IN_TRANSACTION.get() is self

    def _conn_for_reads(self) -> aiosqlite.Connection:
        """Inside a transaction, reads must see its own uncommitted writes."""
        return self.writer if self._in_transaction() else self.reader

    @asynccontextmanager
    async def transaction(self, *, short: bool = False) -> AsyncIterator[None]:
        """`BEGIN IMMEDIATE` ... `COMMIT` on the writer connection (see the port).

        `short`: once the in-process write lock is held, the transaction runs inline on the event loop's
        thread instead of a trip per statement to aiosqlite's thread (a trip costs ~70 us of CPU in
        hand-offs, more than a point statement itself). Nothing in it waits:
        - BEGIN is tried without a busy timeout; when another process holds SQLite's write lock, it is waited
          for on aiosqlite's thread instead (`_begin_short`);
        - inside a write transaction in WAL mode a statement never waits for a lock, so only its own work can
          hold the loop: the caller promises point statements bounded by their input;
        - COMMIT in WAL mode with `synchronous=NORMAL` appends to the log without a sync, and the writer
          never checkpoints on COMMIT (`CHECKPOINT_EVERY_COMMITS`)."""
        if self._in_transaction():
            yield  # nested: part of the outer transaction
            return
        async with self._write_lock:
            if short:
                await self._begin_short()
            else:
                await self.writer.execute("BEGIN IMMEDIATE")
            token = _IN_TRANSACTION.set(self)
            inline = _INLINE.set(self if short else None)
            try:
                yield
            except BaseException:
                _INLINE.reset(inline)
                _IN_TRANSACTION.reset(token)
                await self._end("ROLLBACK", inline=short)
                raise
            _INLINE.reset(inline)
            _IN_TRANSACTION.reset(token)
            await self._end("COMMIT", inline=short)
            self._committed()

    async def _begin_short(self) -> None:
        """`BEGIN IMMEDIATE` on the loop's thread when the lock is free now, else on aiosqlite's thread."""
        conn = sqlite_connection(self.writer)
        conn.execute("PRAGMA busy_timeout=0").fetchall()
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").fetchall()
        await self.writer.execute("BEGIN IMMEDIATE")  # another process writes: wait for it off the loop

    async def _end(self, statement: str, *, inline: bool) -> None:
        if inline:
            sqlite_connection(self.writer).execute(statement)
        else:
            await self.writer.execute(statement)

    def _committed(self) -> None:
        """Count a commit of the writer; start a checkpoint every `checkpoint_every` of them."""
        self._commits += 1
        if self._commits >= self.checkpoint_every and self._checkpoint is None:
            self._commits = 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        """A PASSIVE checkpoint on aiosqlite's thread, between this process's writes: one that ran beside
        them would rarely catch up with the log's end, and only a complete checkpoint lets the next write
        start the log over (else it grows without end under steady writes)."""
        try:
            async with self._write_lock:
                await _pragma(self.writer, "wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except (sqlite3.Error, ValueError, StoreError) as exc:  # closed meanwhile, or I/O: the next one retries
            log.warning("SQLite checkpoint of %s failed: %s", self.path, exc)
        finally:
            self._checkpoint = None

    def _inline(self, table: str | None, query: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Connection | None:
        """The writer's sqlite3 connection while a short transaction of this store runs, else None. A write
        to a table with a text index stays on aiosqlite's thread: its triggers index the text (FTS5), work
        that grows with it. Except a plain INSERT of little text (`rows`' strings at most INLINE_TEXT_BYTES
        in all): all the text it indexes is in its parameters. An UPDATE or DELETE also un-indexes the old
        text, which its parameters do not show."""
        if _INLINE.get() is not self:
            return None
        indexes_text = table is not None and _has_text_index(table)
        if indexes_text and not (query.startswith("INSERT INTO ") and _small_text(rows)):
            return None
        return sqlite_connection(self.writer)

    async def _exec(self, query: str, params: Sequence[Any] = (), table: str | None = None) -> list[Any]:
        """One statement on the writer connection (inline in a short transaction): its rows. `table`: the
        table a write changes."""
        conn = self._inline(table, query, (params,))
        if conn is not None:
            return conn.execute(query, params).fetchall()
        return list(await self.writer.execute_fetchall(query, params))

    async def _exec_many(self, query: str, rows: Sequence[Sequence[Any]], table: str | None = None) -> None:
        conn = self._inline(table, query, rows)
        if conn is not None:
            conn.executemany(query, rows)
            return
        await self.writer.executemany(query, rows)

    @asynccontextmanager
    async def _unit(self, *, savepoint: bool = False) -> AsyncIterator[None]:
        """A compound write: its own transaction, or part of the caller's. A statement that fails (e.g. on a
        unique index) undoes itself, so the caller's transaction goes on; a unit of several writes that may
        fail after the first asks for a `savepoint` to undo them all."""
        if not self._in_transaction():
            async with self.transaction():
                yield
            return
        if not savepoint:
            yield
            return
        await self._exec("SAVEPOINT unit")
        try:
            yield
        except BaseException:
            await self._exec("ROLLBACK TO unit")
            await self._exec("RELEASE unit")
            raise
        await self._exec("RELEASE unit")

    async def read(self, query: str, params: Sequence[Any]) -> list[Any]:
        # One trip to the connection's thread (execute, fetch and close together): each trip costs a thread
        # hand-off and an event-loop wake-up, more than a point query itself.
        if self._in_transaction():
            return await self._exec(query, params)
        return list(await self.reader.execute_fetchall(query, params))

    async def stream(self, query: str, params: Sequence[Any], batch_size: int) -> AsyncIterator[Any]:
        async with self._conn_for_reads().execute(query, params) as cursor:
            while rows := await cursor.fetchmany(batch_size):
                for row in rows:
                    yield row

    async def write(self, query: str, params: Sequence[Any], table: str | None = None) -> list[Any]:
        if self._in_transaction():
            return await self._exec(query, params, table)
        async with self._write_lock:
            rows = list(await self.writer.execute_fetchall(query, params))
            self._committed()
            return rows

    async def write_many(self, query: str, rows: Sequence[Sequence[Any]], table: str | None = None) -> None:
        """Run `query` for each row, in order (the port's ordered insert_many): on an integrity error, the rows
        before the failing one stay written and `_PartialWrite` says how many. One row outside a transaction
        is one statement, atomic by itself (one trip, no BEGIN/COMMIT)."""
        if len(rows) == 1 and not self._in_transaction():
            try:
                await self.write(query, rows[0], table)
            except sqlite3.IntegrityError as exc:
                raise _PartialWrite(0, exc) from exc
            return
        try:
            async with self._unit(savepoint=len(rows) > 1):
                await self._exec_many(query, rows, table)
        except sqlite3.IntegrityError:
            # Rare path: the unit undid itself; redo row by row to find the failing one and keep those before it.
            await self._write_until_error(query, rows, table)

    async def _write_until_error(self, query: str, rows: Sequence[Sequence[Any]], table: str | None) -> None:
        failure: _PartialWrite | None = None
        done = 0
        async with self._unit():
            for row in rows:
                try:
                    await self._exec(query, row, table)
                except sqlite3.IntegrityError as exc:  # the failed statement undid itself; the unit goes on
                    failure = _PartialWrite(done, exc)
                    break
                done += 1
        if failure is not None:
            raise failure

    async def update_returning(
        self,
        before_query: str | None,
        before_params: Sequence[Any],
        update_query: str,
        update_params: Sequence[Any],
        table: str,
        upsert_doc: Document | None,
    ) -> tuple[Any, Any]:
        """Read-before (optional), update one, insert when nothing matched (upsert): one transaction. A lone
        UPDATE outside a transaction is atomic by itself: one statement, one trip to aiosqlite's thread
        (not three: BEGIN, UPDATE, COMMIT), as `write` runs its other single statements."""
        if before_query is None and upsert_doc is None and not self._in_transaction():
            return None, next(iter(await self.write(update_query, update_params, table)), None)
        async with self._unit():
            before = None
            if before_query is not None:
                before = next(iter(await self._exec(before_query, before_params)), None)
            after: Any = next(iter(await self._exec(update_query, update_params, table)), None)
            if after is None and upsert_doc is not None:
                body = dict(upsert_doc)
                doc_id = body.pop("id", None) or new_id()
                text = sql.dumps(body)
                await self._exec(f"INSERT INTO {table} (id, doc) VALUES (?, ?)", (doc_id, text), table)
                after = (doc_id, text)
        return before, after

    # --- migrations --------------------------------------------------------------------------------------
    async def migrate(self) -> list[str]:
        """Apply pending migrations; safe with any number of processes starting on the same file at once.

        Each migration runs in its own `BEGIN IMMEDIATE` transaction (SQLite's write lock, shared by every
        process) and first re-reads `schema_migrations` inside it: a process that waited for the lock sees what
        the winner applied and skips it, instead of failing on the primary key."""
        async with self._write_lock:
            done = await self._applied_ids()
            applied = []
            for migration in all_migrations():
                if migration.id not in done and await self._apply(migration):
                    applied.append(migration.id)
            return applied

    async def _applied_ids(self) -> set[str]:
        await self.writer.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, description TEXT, applied_at TEXT)"
        )
        async with self.writer.execute("SELECT id FROM schema_migrations") as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def _apply(self, migration: Migration) -> bool:
        """Apply one migration under the write lock; False when another process applied it meanwhile."""
        await self.writer.execute("BEGIN IMMEDIATE")
        try:
            async with self.writer.execute("SELECT 1 FROM schema_migrations WHERE id = ?", (migration.id,)) as cur:
                if await cur.fetchone() is not None:
                    await self.writer.execute("ROLLBACK")
                    return False
            for name in migration.collections:
                await self.writer.execute(
                    f"CREATE TABLE IF NOT EXISTS {_table(name)} (id TEXT PRIMARY KEY, doc TEXT NOT NULL)"
                )
            for index in migration.indexes:
                await self.writer.execute(_index_ddl(index))
            for text_index in migration.text_indexes:
                for statement in _fts_ddl(text_index):
                    await self.writer.execute(statement)
            for geo_index in migration.geo_indexes:
                await self.writer.execute(_geo_ddl(geo_index))
            for text_index in migration.text_update_triggers:
                for statement in _fts_update_trigger_ddl(text_index):
                    await self.writer.execute(statement)
            await self.writer.execute(
                "INSERT INTO schema_migrations (id, description, applied_at) VALUES (?, ?, ?)",
                (migration.id, migration.description, sql.format_datetime(utcnow())),
            )
        except BaseException:
            await self.writer.execute("ROLLBACK")
            raise
        await self.writer.execute("COMMIT")
        return True

    async def applied_migrations(self) -> list[str]:
        rows = await self.read("SELECT id FROM schema_migrations ORDER BY id", [])
        return [row[0] for row in rows]

    async def ping(self) -> None:
        try:
            await self.read("SELECT 1", [])
        except (sqlite3.Error, ValueError) as exc:
            raise StoreError(f"SQLite at {self.path} is not usable: {exc}") from exc

    async def close(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def dump(self) -> dict[str, list[Document]]:
        tables = await self.read(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE '%__fts%' AND name != 'schema_migrations'",
            [],
        )
        return {name: await self.collection(name).find({}) for (name,) in tables}


def _index_ddl(index: Index) -> str:
    columns = ", ".join(
        f"{sql.field_expr(name)} {'DESC' if direction < 0 else 'ASC'}" for name, direction in index.keys
    )
    unique = "UNIQUE " if index.unique else ""
    partial = f" WHERE {sql.field_expr(index.keys[0][0])} IS NOT NULL" if index.sparse else ""
    return f"CREATE {unique}INDEX IF NOT EXISTS {_table(index.name)} ON {_table(index.collection)} ({columns}){partial}"


def _geo_ddl(index: GeoIndex) -> str:
    lat_expr, lng_expr = _geo_exprs(index.field)
    return f"CREATE INDEX IF NOT EXISTS {_table(index.name)} ON {_table(index.collection)} ({lat_expr}, {lng_expr})"


def _fts_body(index: TextIndex, row: str) -> str:
    """SQL for the text a row gives its FTS5 table: the indexed fields, joined by spaces."""
    for name in index.fields:
        check_field(name)
    return " || ' ' || ".join(f"coalesce(json_extract({row}.doc, '$.{f}'), '')" for f in index.fields)


def _fts_ddl(index: TextIndex) -> list[str]:
    """The FTS5 table of a text index, its triggers and its first fill (the update trigger as it first
    landed: `_fts_update_trigger_ddl` replaces it)."""
    table = _table(index.collection)
    body = functools.partial(_fts_body, index)
    fts = f"{table}__fts"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(body, tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, body) VALUES (new.rowid, {body('new')}); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = old.rowid; END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE ON {table} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = old.rowid; "
        f"INSERT INTO {fts}(rowid, body) VALUES (new.rowid, {body('new')}); END",
        f"INSERT INTO {fts}(rowid, body) SELECT rowid, {body(table)} FROM {table}",
    ]


def _fts_update_trigger_ddl(index: TextIndex) -> list[str]:
    """The update trigger of a text index that re-indexes a row only when the text it gives the FTS5 table
    changes: a reaction, pin or read stamp rewrites the document but not its text, and re-indexing it (delete
    and insert of the FTS5 row) cost more than the update itself."""
    table = _table(index.collection)
    fts = f"{table}__fts"
    old, new = _fts_body(index, "old"), _fts_body(index, "new")
    return [
        f"DROP TRIGGER IF EXISTS {fts}_au",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF doc ON {table} "
        f"WHEN old.rowid IS NOT new.rowid OR ({old}) IS NOT ({new}) BEGIN "
        f"DELETE FROM {fts} WHERE rowid = old.rowid; "
        f"INSERT INTO {fts}(rowid, body) VALUES (new.rowid, {new}); END",
    ]
