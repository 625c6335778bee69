"""One scheduler process for the crash test: the real broadcasts LeaseWorker (webhook and in-app transports,
the chat core included) on a shared SQLite file.

Usage: python -m tests.sidecar_broadcasts.scheduler_process DB_PATH DATA_DIR WEBHOOK_TIMEOUT_SECONDS
Runs until it is killed (SIGKILL, as a crash) or terminated.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import socketio

from connectnow.config import Settings
from connectnow.realtime.broker_memory import MemoryBroker
from connectnow.realtime.hub import Hub
from connectnow.store.store_sqlite import SqliteStore
from tests.support.services import built_services, unlimited

LEASE_SECONDS = 1.5


def settings(data_dir: Path, webhook_timeout: float) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="development",
        data_dir=data_dir,
        broadcast_webhook_allow_private=True,
        broadcast_webhook_timeout_seconds=webhook_timeout,
        broadcast_lease_seconds=LEASE_SECONDS,
        broadcast_poll_seconds=0.05,
        broadcast_retry_base_seconds=0.05,
        broadcast_retry_cap_seconds=0.2,
    )


async def main(db: Path, data_dir: Path, webhook_timeout: float) -> None:
    store = SqliteStore(db)
    await store.open()
    hub = Hub(socketio.AsyncServer(async_mode="asgi"))
    await hub.attach(MemoryBroker())
    config = settings(data_dir, webhook_timeout)
    async with built_services(store, config, hub, limiter=unlimited()) as services:
        broadcasts = services.broadcasts  # in-app deliveries post through the chat core, as on the node
        await broadcasts.start()
        print("ready", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await broadcasts.stop()
            await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])))
