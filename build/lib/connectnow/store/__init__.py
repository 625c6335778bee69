"""Storage: the port (port.py), its two adapters, and versioned migrations (schema.py)."""

from __future__ import annotations

from connectnow.config import Settings, StorageKind
from connectnow.store.port import DocumentCollection, DocumentStore, DuplicateKeyError, StoreError

__all__ = ["DocumentCollection", "DocumentStore", "DuplicateKeyError", "StoreError", "open_store"]

MONGO_SERVER_SELECTION_TIMEOUT_MS = 5_000


async def open_store(settings: Settings) -> DocumentStore:
    """Open the configured database and apply pending migrations."""
    store: DocumentStore
    if settings.storage_kind is StorageKind.MONGODB:
        from pymongo import AsyncMongoClient

        from connectnow.store.store_mongo import MongoStore

        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            settings.database_url, tz_aware=True, serverSelectionTimeoutMS=MONGO_SERVER_SELECTION_TIMEOUT_MS
        )
        name = client.get_default_database(default=settings.mongodb_database).name
        store = MongoStore(client, name)
    else:
        from connectnow.store.store_sqlite import SqliteStore

        sqlite_store = SqliteStore(settings.sqlite_path)
        await sqlite_store.open()
        store = sqlite_store
    await store.migrate()
    return store
