"""The one place where mongomock-motor differs from PyMongo's async API.

Used only when CONNECTNOW_TEST_MONGODB_URL is not set (no MongoDB server can run on these machines).
- Motor's `aggregate()` returns a cursor directly; PyMongo async's must be awaited.
- mongomock does not implement `$text`; here it is emulated with a case-insensitive any-word regex. With
  a real server the adapter's own `$text` query runs.
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

    async def close(self) -> None:
        self.client.close()
