"""The storage port: what services and repositories may ask of a database.

Repositories (connectnow/repositories) are written once against this port; each adapter (SQLite in
`store_sqlite.py`, MongoDB in `store_mongo.py`) implements it, and the contract suite in tests/contract runs
the same tests on both.

Documents are plain dicts with camelCase keys and a string `id`. A field whose value is None is absent:
`$set` of None unsets the field, and a filter `{"f": None}` matches documents without `f`.

Filters and updates use a small, checked subset of MongoDB's language, with MongoDB's semantics on both
adapters (pinned by tests/contract/test_parity.py): values compare only within their type bracket (numbers
with numbers, strings with strings, booleans with booleans, so `"10"` is not greater than 2 and `true` does
not equal 1), and `$ne`/`$nin` match documents that lack the field. Equality on an array field is not part of
the language (use `$elemMatch`). Field names come from code, never
from clients; `check_filter` and `check_update` refuse anything else (unknown `$` operators, dotted or
`$`-prefixed keys where they do not belong), so client input can never smuggle an operator into a query.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Document = dict[str, Any]
Filter = Mapping[str, Any]
Update = Mapping[str, Any]
Sort = Sequence[tuple[str, int]]

FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
COMPARISON_OPS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$elemMatch"})
LOGICAL_OPS = frozenset({"$or", "$and"})
UPDATE_OPS = frozenset({"$set", "$unset", "$inc", "$max", "$min", "$push", "$pull", "$addToSet", "$setOnInsert"})
SCALAR_TYPES = (str, int, float, bool)


class StoreError(Exception):
    """A failure of the storage layer itself (not a refusal of the request)."""


class DuplicateKeyError(StoreError):
    """An insert or update would break a unique index. `index` names it (same name on both adapters).

    From `insert_many`, `inserted` says how many documents (the first ones, in order) were stored before it.
    """

    def __init__(self, collection: str, index: str | None, *, inserted: int | None = None) -> None:
        self.collection = collection
        self.index = index
        self.inserted = inserted
        after = "" if inserted is None else f" after inserting {inserted} document(s)"
        super().__init__(f"duplicate key in {collection} (index {index or 'unknown'}){after}")


class InvalidQueryError(StoreError):
    """A filter or update outside the supported language: a programming error, never client input."""


@functools.lru_cache(maxsize=1024)
def _valid_field(name: str) -> bool:
    return FIELD_PATH.match(name) is not None


def check_field(name: str) -> str:
    # Memoized (bounded): filters and updates check the same few field names over and over.
    if not _valid_field(name):
        raise InvalidQueryError(f"invalid field name {name!r}")
    return name


def _check_operand(field: str, value: Any) -> None:
    if isinstance(value, Mapping):
        if not value:
            raise InvalidQueryError(f"empty operator object for {field!r}")
        for op, operand in value.items():
            if op not in COMPARISON_OPS:
                raise InvalidQueryError(f"unsupported operator {op!r} on {field!r}")
            if op in ("$in", "$nin"):
                if not isinstance(operand, list | tuple | set | frozenset):
                    raise InvalidQueryError(f"{op} on {field!r} needs a list")
                for item in operand:
                    _check_value(field, item)
            elif op == "$elemMatch":
                if not isinstance(operand, Mapping) or not set(operand) <= {"$eq", "$in"}:
                    raise InvalidQueryError("$elemMatch supports only {$eq} or {$in} on scalar arrays")
                _check_operand(field, operand)
            elif op == "$exists":
                if not isinstance(operand, bool):
                    raise InvalidQueryError("$exists needs a boolean")
            else:
                _check_value(field, operand)
    else:
        _check_value(field, value)


def _check_value(field: str, value: Any) -> None:
    if isinstance(value, Mapping):
        raise InvalidQueryError(f"object value for {field!r}: only operators are allowed in filters")
    if isinstance(value, list | tuple):
        raise InvalidQueryError(f"list value for {field!r}: use $in")


def check_filter(flt: Filter) -> None:
    for key, value in flt.items():
        if key in LOGICAL_OPS:
            if not isinstance(value, list | tuple) or not value:
                raise InvalidQueryError(f"{key} needs a non-empty list of filters")
            for sub in value:
                check_filter(sub)
            continue
        check_field(key)
        _check_operand(key, value)


def check_update(update: Update) -> None:
    if not update:
        raise InvalidQueryError("empty update")
    for op, fields in update.items():
        if op not in UPDATE_OPS:
            raise InvalidQueryError(f"unsupported update operator {op!r}")
        if not isinstance(fields, Mapping) or not fields:
            raise InvalidQueryError(f"{op} needs a non-empty object")
        for field, value in fields.items():
            check_field(field)
            if field == "id":
                raise InvalidQueryError("the id of a document never changes")
            if op in ("$inc",) and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidQueryError("$inc needs a number")
            if op in ("$pull", "$addToSet") and not isinstance(value, SCALAR_TYPES):
                raise InvalidQueryError(f"{op} supports scalar values only")


def normalize_update(update: Update) -> dict[str, dict[str, Any]]:
    """`$set` of None means unset: a None field is absent, on both adapters."""
    out: dict[str, dict[str, Any]] = {op: dict(fields) for op, fields in update.items()}
    sets = out.get("$set", {})
    nulls = [field for field, value in sets.items() if value is None]
    for field in nulls:
        del sets[field]
        out.setdefault("$unset", {})[field] = ""
    if "$set" in out and not out["$set"]:
        del out["$set"]
    soi = out.get("$setOnInsert")
    if soi:
        out["$setOnInsert"] = {k: v for k, v in soi.items() if v is not None}
        if not out["$setOnInsert"]:
            del out["$setOnInsert"]
    return out


EARTH_RADIUS_METERS = 6_378_100.0  # MongoDB's radius for spherical GeoJSON queries, so both adapters agree
MAX_NEAR_METERS = 20_037_509.0  # half the Earth's circumference: every point is within it


def haversine_meters(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(a)))


def check_near(lng: float, lat: float, max_meters: float, limit: int) -> None:
    """The arguments of `near`: coordinates in range, a positive finite distance, a positive limit."""
    for value in (lng, lat, max_meters):
        if not math.isfinite(value):
            raise InvalidQueryError("near() needs finite numbers")
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise InvalidQueryError("near(): longitude must be within [-180, 180] and latitude within [-90, 90]")
    if not 0 < max_meters <= MAX_NEAR_METERS:
        raise InvalidQueryError("near(): maxMeters must be positive and at most half the Earth's circumference")
    if limit < 1:
        raise InvalidQueryError("near(): limit must be positive")


def strip_none(doc: Mapping[str, Any]) -> Document:
    return {k: v for k, v in doc.items() if v is not None}


class DocumentCollection(Protocol):
    """One collection (MongoDB) or table (SQLite) of documents."""

    name: str

    async def insert_one(self, doc: Document) -> None: ...

    async def insert_many(self, docs: Sequence[Document]) -> None:
        """Insert in order, like MongoDB's ordered insert: at the first document that breaks a unique index,
        stop; the documents before it stay stored, none after it is tried, and the DuplicateKeyError's
        `inserted` counts the stored ones. Callers that need all-or-nothing check their keys first."""
        ...

    async def find_one(self, flt: Filter, *, sort: Sort | None = None) -> Document | None: ...

    async def find(
        self, flt: Filter, *, sort: Sort | None = None, limit: int | None = None, skip: int = 0
    ) -> list[Document]: ...

    def iterate(self, flt: Filter, *, sort: Sort | None = None, batch_size: int = 500) -> AsyncIterator[Document]:
        """Stream matching documents in batches, so large exports stay in bounded memory."""
        ...

    async def count(self, flt: Filter) -> int: ...

    async def count_by(self, flt: Filter, field: str) -> dict[Any, int]:
        """How many matching documents hold each value of `field` (absent values are left out)."""
        ...

    async def update_one(self, flt: Filter, update: Update, *, upsert: bool = False) -> bool:
        """True when a document matched (or was inserted by upsert)."""
        ...

    async def update_many(self, flt: Filter, update: Update) -> int: ...

    async def find_one_and_update(
        self,
        flt: Filter,
        update: Update,
        *,
        sort: Sort | None = None,
        upsert: bool = False,
        return_new: bool = True,
    ) -> Document | None:
        """Atomically update the first match (by `sort`) and return it, after or before the update."""
        ...

    async def replace_one(self, flt: Filter, doc: Document) -> bool: ...

    async def delete_one(self, flt: Filter) -> bool: ...

    async def delete_many(self, flt: Filter) -> int: ...

    async def text_search(self, text: str, flt: Filter, *, limit: int = 50) -> list[Document]:
        """Documents within `flt` whose text-indexed fields contain ANY of the words of `text` (split on
        whitespace, at most 32), most relevant first, at most `limit`. Only the collections with a TextIndex
        support it (StoreError otherwise). What both engines guarantee (tests/contract/test_parity.py): a
        whole word matches regardless of case; a document containing none of the words never matches; an
        empty `text` gives []. What differs, so callers must not rely on it: MongoDB's `$text` stems English
        words ("running" finds "run") and ignores stop words ("the"), SQLite's FTS5 (unicode61) matches whole
        tokens and also ignores diacritics ("cafe" finds "café"); the relevance order is each engine's own
        (MongoDB textScore, SQLite bm25), so ties and near-ties may come in a different order."""
        ...

    async def near(
        self, field: str, lng: float, lat: float, *, max_meters: float, flt: Filter, limit: int = 50
    ) -> list[tuple[Document, float]]:
        """Documents whose GeoJSON Point `field` lies within `max_meters` of (lng, lat), nearest first, with
        their distance in meters. The field needs a GeoIndex (MongoDB 2dsphere `$near`; SQLite haversine)."""
        ...


class DocumentStore(Protocol):
    """A database: a set of collections plus lifecycle."""

    kind: str
    # True when `transaction()` makes its block all-or-nothing (SQLite). MongoDB without replica-set
    # transactions runs the block write by write: callers order their writes so that a crash leaves only
    # state they can detect and repair (see connectnow/repositories/message_log.py).
    atomic_transactions: bool

    def collection(self, name: str) -> DocumentCollection: ...

    def transaction(self, *, short: bool = False) -> AbstractAsyncContextManager[None]:
        """Run the block's writes (and reads, which see them) as one unit where the engine can.

        SQLite: one `BEGIN IMMEDIATE` transaction, serialized against every other writer in every process;
        committed when the block ends, rolled back when it raises. Nested blocks join the outer one. Keep the
        block to database work: it holds the database's write lock. MongoDB: runs as written (no
        multi-document transactions); see `atomic_transactions`.

        `short`: the block is a few point statements, each bounded by its input (a message step). SQLite runs
        them on the event loop's thread once it holds the lock, saving a thread hand-off per statement;
        MongoDB ignores it."""
        ...

    async def migrate(self) -> list[str]:
        """Apply the pending migrations in order; return the ids applied now."""
        ...

    async def applied_migrations(self) -> list[str]: ...

    async def ping(self) -> None:
        """Raise StoreError when the database cannot be reached."""
        ...

    async def close(self) -> None: ...

    async def dump(self) -> dict[str, list[Document]]:
        """Every document of every collection: for backups, audits and the no-plaintext tests."""
        ...
