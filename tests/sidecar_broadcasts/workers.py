"""Two live workers on one SQLite file with Redis between them, and the webhook receiver, for e2e tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from tests.sidecar_broadcasts.receiver import Receiver
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer


@contextmanager
def two_workers_on(tmp_path: Path, prefix: str, settings: dict[str, str]) -> Iterator[tuple[LiveServer, LiveServer]]:
    redis = RedisServer.start()
    shared = {**settings, "redis_url": redis.url, "redis_prefix": prefix,
              "database_url": f"sqlite:///{tmp_path / 'shared.db'}"}  # fmt: skip
    a = LiveServer.start(tmp_path / "a", **shared)
    try:
        b = LiveServer.start(tmp_path / "b", **shared)
    except BaseException:
        a.stop()
        redis.stop()
        raise
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()
        redis.stop()


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    try:
        yield hook
    finally:
        await hook.stop()
