"""Issue 14: any number of processes may migrate the same fresh folder at once, and a worker that cannot
start makes `serve` exit non-zero instead of running on fewer workers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from connectnow.store.schema import all_migrations
from tests.support.redis_server import RedisServer, env_without_connectnow

STARTERS = 5
ROUNDS = 2


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = env_without_connectnow()
    env.update({"CONNECTNOW_ENV": "development", "CONNECTNOW_DATA_DIR": str(data_dir), **extra})
    return env


def test_concurrent_migrate_processes_on_a_fresh_folder_all_succeed(tmp_path: Path) -> None:
    expected = sorted(m.id for m in all_migrations())
    for round_no in range(ROUNDS):
        data_dir = tmp_path / f"round{round_no}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "connectnow", "migrate"],
                env=_env(data_dir),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(STARTERS)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
            assert sorted(line.removeprefix("applied: ") for line in out.split()) != []
            listed = [line.removeprefix("applied: ") for line in out.splitlines()]
            assert listed == expected, (listed, err)


@pytest.mark.slow
def test_serve_with_two_workers_exits_non_zero_when_workers_cannot_start(tmp_path: Path) -> None:
    # The database path is a directory: every worker fails in its start-up (opening the store).
    broken = tmp_path / "db-is-a-directory"
    broken.mkdir()
    redis = RedisServer.start()
    try:
        env = _env(tmp_path / "data", CONNECTNOW_DATABASE_URL=f"sqlite:///{broken}", CONNECTNOW_REDIS_URL=redis.url)
        proc = subprocess.run(
            [sys.executable, "-m", "connectnow", "serve", "--workers", "2", "--port", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        redis.stop()
    assert proc.returncode != 0, proc.stderr[-2000:]


async def test_mongo_migrations_wait_for_the_lock_then_reread() -> None:
    from mongomock_motor import AsyncMongoMockClient

    from connectnow.clock import utcnow
    from connectnow.store.store_mongo import MIGRATION_LOCK_COLLECTION
    from tests.support.mongo_shim import MongomockStore

    client = AsyncMongoMockClient(tz_aware=True)
    stores = [MongomockStore(client, "cn_race") for _ in range(3)]
    locks = stores[0].database[MIGRATION_LOCK_COLLECTION]
    await locks.insert_one({"_id": "migrate", "owner": "another process", "at": utcnow()})
    racers = asyncio.gather(*(store.migrate() for store in stores))
    await asyncio.sleep(1.0)
    assert not racers.done(), "a migrator ran while another process held the lock"
    assert await stores[0].applied_migrations() == []
    await locks.delete_one({"_id": "migrate"})
    results = await asyncio.wait_for(racers, 60)
    expected = sorted(m.id for m in all_migrations())
    assert sorted(mid for result in results for mid in result) == expected  # each applied exactly once
    assert await stores[0].applied_migrations() == expected
    assert await locks.count_documents({}) == 0


async def test_a_stale_mongo_migration_lock_is_taken_over() -> None:
    from datetime import timedelta

    from mongomock_motor import AsyncMongoMockClient

    from connectnow.clock import utcnow
    from connectnow.store.store_mongo import MIGRATION_LOCK_COLLECTION, MIGRATION_LOCK_STALE_SECONDS
    from tests.support.mongo_shim import MongomockStore

    store = MongomockStore(AsyncMongoMockClient(tz_aware=True), "cn_stale")
    dead = utcnow() - timedelta(seconds=MIGRATION_LOCK_STALE_SECONDS + 5)
    await store.database[MIGRATION_LOCK_COLLECTION].insert_one({"_id": "migrate", "owner": "died", "at": dead})
    assert await asyncio.wait_for(store.migrate(), 60) == sorted(m.id for m in all_migrations())


def test_two_workers_on_a_fresh_folder_both_start(tmp_path: Path) -> None:
    import os
    import signal
    import time

    import httpx

    from tests.support.redis_server import free_port

    redis = RedisServer.start()
    try:
        for round_no in range(1):
            port = free_port()
            env = _env(tmp_path / f"fresh{round_no}", CONNECTNOW_REDIS_URL=redis.url, CONNECTNOW_LOG_LEVEL="info")
            proc = subprocess.Popen(
                [sys.executable, "-m", "connectnow", "serve", "--workers", "2", "--port", str(port)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 60
                ready = False
                while not ready and time.monotonic() < deadline and proc.poll() is None:
                    try:
                        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
                    except httpx.HTTPError:
                        time.sleep(0.2)
                assert ready, "serve --workers 2 never became ready"
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                out, _ = proc.communicate(timeout=60)
            # Stopped by SIGTERM, both workers had started, none failed on the migrations.
            assert proc.returncode == 0, out[-3000:]
            assert out.count("ConnectNow started") == 2, out[-3000:]
            assert "Traceback" not in out and "UNIQUE constraint" not in out, out[-3000:]
    finally:
        redis.stop()
