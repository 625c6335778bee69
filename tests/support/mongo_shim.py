"""The one place where mongomock-motor differs from PyMongo's async API.

Used only when CONNECTNOW_TEST_MONGODB_URL is not set (no MongoDB server can run on these machines).
- Motor's `aggregate()` returns a cursor directly; PyMongo async's must be awaited.
- mongomock does not implement `$text`; here it is emulated with a case-insensitive any-word regex. With
  a real server the adapter's own `$text` query runs.
- mongomock does not implement `$near` (nor 2dsphere indexes); `near_find` emulates it with the same
  haversine distance, nearest first.
"""

from __future__ import annotations

import re
from typing import Any

from connectnow.store.store_mongo import MongoStore


class MongomockStore(MongoStore):
    kind = "mongodb"

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
