"""The one place where mongomock-motor differs from PyMongo's async API.

Used only when CONNECTNOW_TEST_MONGODB_URL is not set (no MongoDB server can run on these machines).
- Motor's `aggregate()` returns a cursor directly; PyMongo async's must be awaited.
- mongomock does not implement `$text`; here it is emulated with a case-insensitive any-word regex. With
  a real server the adapter's own `$text` query runs.
- mongomock does not implement `$near` (nor 2dsphere indexes); `near_find` emulates it with the same
  haversine distance, nearest first.
- mongomock compares with Python's `==`, so `true` equals 1 and `false` equals 0 (MongoDB keeps booleans and
  numbers apart, and so does the port: tests/contract/test_parity.py). `mongo_filter` adds a `$type` guard to
  equality, `$ne`, `$in`, `$nin` and `$elemMatch` on booleans and numbers. Range operators need none:
  mongomock already compares within MongoDB's type brackets there.
"""

from __future__ import annotations

import re
from typing import Any

from connectnow.store.port import Filter
from connectnow.store.store_mongo import MongoStore


def _bracket(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else None


def _typed_in(field: str, values: list[Any]) -> dict[str, Any]:
    """`field $in values` where booleans match only booleans and numbers only numbers."""
    groups: dict[str | None, list[Any]] = {}
    for value in values:
        groups.setdefault(_bracket(value), []).append(value)
    branches = [{field: {"$in": group, **({"$type": kind} if kind else {})}} for kind, group in groups.items()]
    return {"$or": branches} if branches else {field: {"$in": []}}


def _typed_clause(field: str, spec: Any) -> list[dict[str, Any]]:
    """One field's condition as a list of conditions to AND, with type guards where mongomock needs them."""
    if not isinstance(spec, dict):
        kind = _bracket(spec)
        return [{field: spec}, *([{field: {"$type": kind}}] if kind else [])]
    out: list[dict[str, Any]] = []
    for op, operand in spec.items():
        if op == "$eq":
            out += _typed_clause(field, operand)
        elif op == "$ne" and _bracket(operand):
            out.append({"$nor": [{"$and": _typed_clause(field, operand)}]})
        elif op == "$in":
            out.append(_typed_in(field, list(operand)))
        elif op == "$nin":
            out.append({"$nor": [_typed_in(field, list(operand))]})
        elif op == "$elemMatch":
            inner = dict(operand)
            values = inner.pop("$in", None)
            eq_kind = _bracket(inner.get("$eq"))
            element = {**inner, **({"$type": eq_kind} if eq_kind else {})}
            if element:
                out.append({field: {"$elemMatch": element}})
            if values is not None:
                typed = _typed_in("x", list(values))
                branches = typed.get("$or", [typed])
                out.append({"$or": [{field: {"$elemMatch": branch["x"]}} for branch in branches]})
        else:
            out.append({field: {op: operand}})
    return out


def typed_filter(flt: dict[str, Any]) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    for key, value in flt.items():
        if key in ("$or", "$and", "$nor"):
            conditions.append({key: [typed_filter(sub) for sub in value]})
        else:
            conditions += _typed_clause(key, value)
    # The first condition on each field stays a top-level key, so an upsert still copies equalities into
    # the new document; the others (type guards, `$nor`, `$or`) are ANDed.
    top: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for condition in conditions:
        ((key, value),) = condition.items()
        if key.startswith("$") or key in top:
            rest.append(condition)
        else:
            top[key] = value
    return {**top, "$and": rest} if rest else top


class MongomockStore(MongoStore):
    kind = "mongodb"

    def mongo_filter(self, flt: Filter) -> dict[str, Any]:
        return typed_filter(super().mongo_filter(flt))

    async def aggregate(self, coll: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await coll.aggregate(pipeline).to_list(None))

    async def text_find(self, coll: Any, text: str, flt: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        from connectnow.store.schema import text_index_for

        index = text_index_for(coll.name)
        assert index is not None
        words = [re.escape(w) for w in text.split()]
        pattern = re.compile(r"\b(" + "|".join(words) + r")\b", re.IGNORECASE)
        anyword = {"$or": [{f: {"$regex": pattern}} for f in index.fields]}
        docs = await coll.find({"$and": [flt, anyword]} if flt else anyword).to_list(None)

        def score(doc: dict[str, Any]) -> int:
            return sum(len(pattern.findall(str(doc.get(f, "")))) for f in index.fields)

        docs.sort(key=score, reverse=True)
        return list(docs[:limit])

    async def near_find(
        self, coll: Any, field: str, lng: float, lat: float, max_meters: float, flt: dict[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        from connectnow.store.port import haversine_meters

        def distance(doc: dict[str, Any]) -> float:
            point = (doc.get(field) or {}).get("coordinates") or []
            return haversine_meters(lng, lat, point[0], point[1]) if len(point) == 2 else float("inf")

        docs = await coll.find({**flt, field: {"$exists": True}}).to_list(None)
        near = sorted((d for d in docs if distance(d) <= max_meters), key=distance)
        return near[:limit]

    async def close(self) -> None:
        self.client.close()
