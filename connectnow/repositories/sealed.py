"""Sealed (encrypted) fields across collections: the storage half of key rotation.

Which (collection, field) pairs hold ciphertext is the service's knowledge
(connectnow/services/scheduling/sealing.py, `ENCRYPTED_FIELDS`); reading and rewriting them is here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from connectnow.store.port import DocumentStore


async def sealed_values(store: DocumentStore, collection: str, field: str) -> AsyncIterator[tuple[str, str]]:
    """(record id, ciphertext) of every record holding `field`, in bounded-memory batches."""
    async for doc in store.collection(collection).iterate({field: {"$exists": True}}):
        yield str(doc["id"]), str(doc[field])


async def replace_sealed(store: DocumentStore, collection: str, record_id: str, field: str, old: str, new: str) -> bool:
    """Rewrite one ciphertext, only if it is still `old` (a value changed meanwhile is left to its writer)."""
    return await store.collection(collection).update_one({"id": record_id, field: old}, {"$set": {field: new}})
