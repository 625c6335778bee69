"""Readiness names the storage when it cannot be reached (here: a MongoDB URL where nothing listens)."""

from __future__ import annotations

import gc

import pytest
from pymongo import AsyncMongoClient

from connectnow.store.port import StoreError
from connectnow.store.store_mongo import MongoStore
from tests.support.redis_server import free_port


# PyMongo leaves the socket of a refused connection to the garbage collector; collect it here, so its
# ResourceWarning is reported (and expected) in this test rather than in whichever test runs next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_unreachable_mongodb_ping_names_the_problem() -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/x", serverSelectionTimeoutMS=300
    )
    store = MongoStore(client, "x")
    try:
        with pytest.raises(StoreError, match="MongoDB is not reachable"):
            await store.ping()
    finally:
        await store.close()
        gc.collect()
