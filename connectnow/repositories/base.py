"""The typed repository base: stored pydantic models in, stored pydantic models out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from connectnow.repositories.leases import LeaseQueue, LeaseSpec
from connectnow.store.port import DocumentCollection, DocumentStore, Filter, Sort, Update
from models.base import StoredModel

M = TypeVar("M", bound=StoredModel)


class Repository(Generic[M]):
    collection_name: str
    model: type[M]

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.coll: DocumentCollection = store.collection(self.collection_name)

    def lease_queue(self, spec: LeaseSpec, *, lease_seconds: float) -> LeaseQueue:
        """This collection as a lease queue of background work items (connectnow/repositories/leases.py)."""
        return LeaseQueue(self.coll, spec, lease_seconds=lease_seconds)

    def _load(self, doc: dict[str, Any] | None) -> M | None:
        return None if doc is None else self.model.model_validate(doc)

    async def insert(self, record: M) -> M:
        await self.coll.insert_one(record.to_doc())
        return record

    async def insert_many(self, records: list[M]) -> None:
        """In order; see DocumentCollection.insert_many for what a unique-index clash leaves stored."""
        await self.coll.insert_many([r.to_doc() for r in records])

    async def get(self, record_id: str) -> M | None:
        return self._load(await self.coll.find_one({"id": record_id}))

    async def find_one(self, flt: Filter, *, sort: Sort | None = None) -> M | None:
        return self._load(await self.coll.find_one(flt, sort=sort))

    async def find(self, flt: Filter, *, sort: Sort | None = None, limit: int | None = None, skip: int = 0) -> list[M]:
        return [self.model.model_validate(d) for d in await self.coll.find(flt, sort=sort, limit=limit, skip=skip)]

    async def iterate(self, flt: Filter, *, sort: Sort | None = None, batch_size: int = 500) -> AsyncIterator[M]:
        async for doc in self.coll.iterate(flt, sort=sort, batch_size=batch_size):
            yield self.model.model_validate(doc)

    async def update(self, flt: Filter, update: Update, *, sort: Sort | None = None) -> M | None:
        """Atomically update the first match and return it as it is now (None when nothing matched)."""
        return self._load(await self.coll.find_one_and_update(flt, update, sort=sort))

    async def set_fields(self, record_id: str, fields: dict[str, Any]) -> M | None:
        """Set fields of one record by id (None values unset them); the record as it is now, None if gone."""
        return await self.update({"id": record_id}, {"$set": fields})

    async def set_owned(self, record_id: str, user_id: str, fields: dict[str, Any]) -> M | None:
        """Set fields of one record of `user_id`'s; None when it is not theirs (or gone)."""
        return await self.update({"id": record_id, "userId": user_id}, {"$set": fields})

    async def delete_id(self, record_id: str) -> bool:
        return await self.coll.delete_one({"id": record_id})

    async def update_many(self, flt: Filter, update: Update) -> int:
        return await self.coll.update_many(flt, update)

    async def count(self, flt: Filter) -> int:
        return await self.coll.count(flt)

    async def delete(self, flt: Filter) -> int:
        return await self.coll.delete_many(flt)
