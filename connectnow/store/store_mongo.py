"""The MongoDB adapter, on PyMongo's async API (`AsyncMongoClient`).

Documents keep their string `id` as MongoDB's `_id`. Indexes come from the same migrations as SQLite's and
carry the same names, created at start-up; applied migration ids are recorded in `_migrations`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo import errors as mongo_errors

from connectnow.clock import new_id, utcnow
from connectnow.store.port import (
    Document,
    DuplicateKeyError,
    Filter,
    Sort,
    StoreError,
    Update,
    check_filter,
    check_near,
    check_update,
    haversine_meters,
    normalize_update,
    strip_none,
)
from connectnow.store.schema import Migration, all_migrations, geo_index_for, text_index_for, unique_indexes

MIGRATIONS_COLLECTION = "_migrations"
MIGRATION_LOCK_COLLECTION = "_migrations_lock"
MIGRATION_LOCK_STALE_SECONDS = 300  # longer than any migration takes: its holder died
MIGRATION_LOCK_WAIT_SECONDS = 600
MIGRATION_LOCK_POLL_SECONDS = 0.2


def _to_mongo_filter(flt: Filter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flt.items():
        if key in ("$or", "$and"):
            out[key] = [_to_mongo_filter(sub) for sub in value]
            continue
        if isinstance(value, Mapping):
            value = {op: list(v) if op in ("$in", "$nin") else v for op, v in value.items()}
        out["_id" if key == "id" else key] = value
    return out


def _to_mongo_sort(sort: Sort | None) -> list[tuple[str, int]] | None:
    if not sort:
        return None
    return [("_id" if f == "id" else f, DESCENDING if d < 0 else ASCENDING) for f, d in sort]


def _to_mongo_doc(doc: Document) -> dict[str, Any]:
    body = strip_none(doc)
    body["_id"] = body.pop("id", None) or new_id()
    return body


def _from_mongo(doc: Mapping[str, Any] | None) -> Document | None:
    if doc is None:
        return None
    out = dict(doc)
    out["id"] = out.pop("_id")
    return out


def _to_mongo_update(update: Update) -> dict[str, Any]:
    norm = normalize_update(update)
    if "$unset" in norm:
        norm["$unset"] = dict.fromkeys(norm["$unset"], "")
    return norm


class MongoCollection:
    def __init__(self, store: MongoStore, name: str) -> None:
        self.name = name
        self._store = store
        self._coll = store.database[name]

    def _duplicate(self, exc: mongo_errors.DuplicateKeyError) -> DuplicateKeyError:
        details = exc.details or {}
        pattern = tuple((details.get("keyPattern") or {}).keys())
        if pattern == ("_id",):
            return DuplicateKeyError(self.name, "primary")
        for index in unique_indexes(self.name):
            if index.fields == pattern or index.name in str(exc):
                return DuplicateKeyError(self.name, index.name)
        return DuplicateKeyError(self.name, None)

    async def _duplicate_of(self, exc: mongo_errors.DuplicateKeyError, doc: Document) -> DuplicateKeyError:
        """Like `_duplicate`, and when the server names no key pattern, find which unique key collides."""
        known = self._duplicate(exc)
        if known.index is not None:
            return known
        if await self._coll.count_documents({"_id": doc["_id"]}, limit=1):
            return DuplicateKeyError(self.name, "primary")
        for index in unique_indexes(self.name):
            probe = {f: doc.get(f) for f in index.fields}
            if all(v is not None for v in probe.values()) and await self._coll.count_documents(probe, limit=1):
                return DuplicateKeyError(self.name, index.name)
        return known

    async def insert_one(self, doc: Document) -> None:
        body = _to_mongo_doc(doc)
        try:
            await self._coll.insert_one(body)
        except mongo_errors.DuplicateKeyError as exc:
            raise await self._duplicate_of(exc, body) from exc

    async def insert_many(self, docs: Sequence[Document]) -> None:
        if not docs:
            return
        bodies = [_to_mongo_doc(d) for d in docs]
        try:
            await self._coll.insert_many(bodies, ordered=True)
        except mongo_errors.BulkWriteError as exc:
            # Ordered: the server stopped at the first error, and the documents before it stay (the port's rule).
            first = (exc.details.get("writeErrors") or [{}])[0]
            if first.get("code") == 11000:
                inserted = int(exc.details.get("nInserted", first.get("index", 0)))
                dup_exc = mongo_errors.DuplicateKeyError(first.get("errmsg", ""), 11000, first)
                dup = await self._duplicate_of(dup_exc, bodies[int(first.get("index", inserted))])
                raise DuplicateKeyError(self.name, dup.index, inserted=inserted) from exc
            raise StoreError(str(exc)) from exc

    async def find_one(self, flt: Filter, *, sort: Sort | None = None) -> Document | None:
        check_filter(flt)
        return _from_mongo(await self._coll.find_one(self._store.mongo_filter(flt), sort=_to_mongo_sort(sort)))

    async def find(
        self, flt: Filter, *, sort: Sort | None = None, limit: int | None = None, skip: int = 0
    ) -> list[Document]:
        check_filter(flt)
        cursor = self._coll.find(self._store.mongo_filter(flt))
        mongo_sort = _to_mongo_sort(sort)
        if mongo_sort:
            cursor = cursor.sort(mongo_sort)
        if skip:
            cursor = cursor.skip(int(skip))
        if limit is not None:
            if limit <= 0:
                return []
            cursor = cursor.limit(int(limit))
        return [d for d in (_from_mongo(doc) for doc in await cursor.to_list(None)) if d is not None]

    async def iterate(self, flt: Filter, *, sort: Sort | None = None, batch_size: int = 500) -> AsyncIterator[Document]:
        check_filter(flt)
        cursor = self._coll.find(self._store.mongo_filter(flt)).batch_size(batch_size)
        mongo_sort = _to_mongo_sort(sort)
        if mongo_sort:
            cursor = cursor.sort(mongo_sort)
        async for doc in cursor:
            out = _from_mongo(doc)
            if out is not None:
                yield out

    async def count(self, flt: Filter) -> int:
        check_filter(flt)
        return int(await self._coll.count_documents(self._store.mongo_filter(flt)))

    async def count_by(self, flt: Filter, field: str) -> dict[Any, int]:
        check_filter(flt)
        key = "_id" if field == "id" else field
        pipeline: list[dict[str, Any]] = [
            {"$match": {"$and": [self._store.mongo_filter(flt), {key: {"$ne": None}}]}},
            {"$group": {"_id": f"${key}", "n": {"$sum": 1}}},
        ]
        rows = await self._store.aggregate(self._coll, pipeline)
        return {row["_id"]: int(row["n"]) for row in rows}

    async def update_one(self, flt: Filter, update: Update, *, upsert: bool = False) -> bool:
        return await self.find_one_and_update(flt, update, upsert=upsert) is not None

    async def update_many(self, flt: Filter, update: Update) -> int:
        check_filter(flt)
        check_update(update)
        try:
            result = await self._coll.update_many(self._store.mongo_filter(flt), _to_mongo_update(update))
        except mongo_errors.DuplicateKeyError as exc:
            raise self._duplicate(exc) from exc
        return int(result.matched_count)

    async def find_one_and_update(
        self,
        flt: Filter,
        update: Update,
        *,
        sort: Sort | None = None,
        upsert: bool = False,
        return_new: bool = True,
    ) -> Document | None:
        check_filter(flt)
        check_update(update)
        mongo_update = _to_mongo_update(update)
        if upsert and "id" not in flt:
            mongo_update.setdefault("$setOnInsert", {})["_id"] = new_id()
        try:
            doc = await self._coll.find_one_and_update(
                self._store.mongo_filter(flt),
                mongo_update,
                sort=_to_mongo_sort(sort),
                upsert=upsert,
                return_document=ReturnDocument.AFTER if return_new else ReturnDocument.BEFORE,
            )
        except mongo_errors.DuplicateKeyError as exc:
            raise self._duplicate(exc) from exc
        return _from_mongo(doc)

    async def replace_one(self, flt: Filter, doc: Document) -> bool:
        check_filter(flt)
        body = strip_none(doc)
        body.pop("id", None)
        try:
            result = await self._coll.replace_one(self._store.mongo_filter(flt), body)
        except mongo_errors.DuplicateKeyError as exc:
            raise self._duplicate(exc) from exc
        return bool(result.matched_count)

    async def delete_one(self, flt: Filter) -> bool:
        check_filter(flt)
        result = await self._coll.delete_one(self._store.mongo_filter(flt))
        return bool(result.deleted_count)

    async def delete_many(self, flt: Filter) -> int:
        check_filter(flt)
        result = await self._coll.delete_many(self._store.mongo_filter(flt))
        return int(result.deleted_count)

    async def text_search(self, text: str, flt: Filter, *, limit: int = 50) -> list[Document]:
        check_filter(flt)
        if text_index_for(self.name) is None:
            raise StoreError(f"collection {self.name} has no text index")
        words = [w for w in text.split() if w][:32]
        if not words:
            return []
        docs = await self._store.text_find(self._coll, " ".join(words), self._store.mongo_filter(flt), int(limit))
        return [d for d in (_from_mongo(doc) for doc in docs) if d is not None]

    async def near(
        self, field: str, lng: float, lat: float, *, max_meters: float, flt: Filter, limit: int = 50
    ) -> list[tuple[Document, float]]:
        check_filter(flt)
        check_near(lng, lat, max_meters, limit)
        if geo_index_for(self.name, field) is None:
            raise StoreError(f"collection {self.name} has no geo index on {field}")
        mongo_flt = self._store.mongo_filter(flt)
        docs = await self._store.near_find(self._coll, field, lng, lat, max_meters, mongo_flt, limit)
        out: list[tuple[Document, float]] = []
        for raw in docs:
            doc = _from_mongo(raw)
            point = ((doc or {}).get(field) or {}).get("coordinates") or []
            if doc is not None and len(point) == 2:
                out.append((doc, haversine_meters(lng, lat, float(point[0]), float(point[1]))))
        return out


class MongoStore:
    kind = "mongodb"
    # Multi-document transactions need a replica set (and mongomock has none): blocks run write by write.
    atomic_transactions = False

    def __init__(self, client: Any, database_name: str) -> None:
        self.client = client
        self.database = client[database_name]

    def collection(self, name: str) -> MongoCollection:
        return MongoCollection(self, name)

    @asynccontextmanager
    async def transaction(self, *, short: bool = False) -> AsyncIterator[None]:
        yield  # write by write: see DocumentStore.transaction and `atomic_transactions`

    def mongo_filter(self, flt: Filter) -> dict[str, Any]:
        """The port's filter as a MongoDB filter (a real server already has the port's semantics)."""
        return _to_mongo_filter(flt)

    async def aggregate(self, coll: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # PyMongo async: aggregate() is a coroutine returning a cursor (Motor differs: see tests/support).
        cursor = await coll.aggregate(pipeline)
        return list(await cursor.to_list(None))

    async def text_find(self, coll: Any, text: str, flt: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        projection = {"score": {"$meta": "textScore"}}
        cursor = coll.find({"$text": {"$search": text}, **flt}, projection)
        cursor = cursor.sort([("score", {"$meta": "textScore"})]).limit(limit)
        docs = await cursor.to_list(None)
        for doc in docs:
            doc.pop("score", None)
        return list(docs)

    async def near_find(
        self, coll: Any, field: str, lng: float, lat: float, max_meters: float, flt: dict[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        # $near on a 2dsphere index returns the documents nearest first (mongomock lacks it: see tests/support).
        near = {"$near": {"$geometry": {"type": "Point", "coordinates": [lng, lat]}, "$maxDistance": max_meters}}
        return list(await coll.find({**flt, field: near}).limit(limit).to_list(None))

    async def migrate(self) -> list[str]:
        """Apply pending migrations; safe with any number of processes starting at once.

        A unique lock document (`_id` "migrate" in `_migrations_lock`) admits one migrator at a time; the others
        wait, then re-read what is applied. A lock older than MIGRATION_LOCK_STALE_SECONDS belonged to a process
        that died while migrating and is taken over (every step is idempotent: indexes by name, ids upserted)."""
        owner = new_id()
        await self._acquire_migration_lock(owner)
        try:
            done = {doc["_id"] async for doc in self.database[MIGRATIONS_COLLECTION].find({})}
            applied = []
            for migration in all_migrations():
                if migration.id in done:
                    continue
                await self._apply(migration)
                applied.append(migration.id)
            return applied
        finally:
            await self.database[MIGRATION_LOCK_COLLECTION].delete_one({"_id": "migrate", "owner": owner})

    async def _acquire_migration_lock(self, owner: str) -> None:
        locks = self.database[MIGRATION_LOCK_COLLECTION]
        deadline = asyncio.get_running_loop().time() + MIGRATION_LOCK_WAIT_SECONDS
        while True:
            now = utcnow()
            try:
                await locks.insert_one({"_id": "migrate", "owner": owner, "at": now})
                return
            except mongo_errors.DuplicateKeyError:
                stale = now - timedelta(seconds=MIGRATION_LOCK_STALE_SECONDS)
                taken = await locks.find_one_and_update(
                    {"_id": "migrate", "at": {"$lt": stale}}, {"$set": {"owner": owner, "at": now}}
                )
                if taken is not None:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise StoreError("another process holds the migration lock (_migrations_lock) for too long")
            await asyncio.sleep(MIGRATION_LOCK_POLL_SECONDS)

    async def _apply(self, migration: Migration) -> None:
        for index in migration.indexes:
            keys = [("_id" if f == "id" else f, DESCENDING if d < 0 else ASCENDING) for f, d in index.keys]
            await self.database[index.collection].create_index(
                keys, name=index.name, unique=index.unique, sparse=index.sparse
            )
        for text_index in migration.text_indexes:
            await self.database[text_index.collection].create_index(
                [(f, "text") for f in text_index.fields], name=text_index.name
            )
        for geo_index in migration.geo_indexes:
            await self.database[geo_index.collection].create_index([(geo_index.field, "2dsphere")], name=geo_index.name)
        await self.database[MIGRATIONS_COLLECTION].replace_one(
            {"_id": migration.id},
            {"_id": migration.id, "description": migration.description, "appliedAt": utcnow()},
            upsert=True,
        )

    async def applied_migrations(self) -> list[str]:
        return sorted([doc["_id"] async for doc in self.database[MIGRATIONS_COLLECTION].find({})])

    async def ping(self) -> None:
        try:
            await self.database.command("ping")
        except mongo_errors.PyMongoError as exc:
            raise StoreError(f"MongoDB is not reachable: {exc}") from exc

    async def close(self) -> None:
        result = self.client.close()
        if hasattr(result, "__await__"):
            await result

    async def dump(self) -> dict[str, list[Document]]:
        names = await self.database.list_collection_names()
        out: dict[str, list[Document]] = {}
        for name in sorted(names):
            if name in (MIGRATIONS_COLLECTION, MIGRATION_LOCK_COLLECTION):
                continue
            out[name] = await self.collection(name).find({})
        return out
