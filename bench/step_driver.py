"""The message step alone, in process: `MessageLog.append` on the SQLite adapter, one message per step.

No sockets, no services: what one step (lease, replay look-up, insert, counters, commit) costs in CPU and wall
time. Appends go round-robin over ten channels, `--concurrency` at a time, so each step carries one message
(the persist benchmark keeps 32 in flight into one channel, where group commit shares a step among many).

    python -m bench.step_driver --appends 3000 --rounds 5
    (cd /tmp/cn-before && PYTHONPATH=. /path/to/.venv/bin/python -m bench.step_driver)   # an older tree

Run the two trees alternately on a quiet machine and compare medians: a round moves by 10-20 % on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

import uvloop

from connectnow.clock import new_id, utcnow
from connectnow.repositories.messages import channel_log
from connectnow.store.store_sqlite import SqliteStore
from models.messages import MessageRecord

WARM_UP = 500
CHANNELS = 10


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_round(appends: int, concurrency: int) -> tuple[float, float, int]:
    """(CPU us, wall us) per append after a warm-up, on a fresh database, and how many messages it holds."""
    with tempfile.TemporaryDirectory(prefix="cn-step-") as folder:
        store = SqliteStore(Path(folder) / "steps.db")
        await store.open()
        try:
            await store.migrate()
            log = channel_log(store)
            channels = [new_id() for _ in range(CHANNELS)]
            gate = asyncio.Semaphore(concurrency)

            async def append(n: int) -> None:
                channel = channels[n % CHANNELS]

                def build(seq: int, event_seq: int, key: str) -> MessageRecord:
                    now = utcnow()
                    return MessageRecord(
                        id=new_id(), channel_id=channel, workspace_id="w", user_id="u", content=f"hello world {n}",
                        client_msg_id=f"c{n}", dedupe_key=key, created_at=now, updated_at=now,
                    )  # fmt: skip

                async with gate:
                    await log.append(channel, "u", f"c{n}", build, checked=True)

            await asyncio.gather(*(append(n) for n in range(WARM_UP)))
            cpu, wall = _cpu_seconds(), time.perf_counter()
            await asyncio.gather(*(append(n) for n in range(WARM_UP, WARM_UP + appends)))
            cpu_us, wall_us = (_cpu_seconds() - cpu) / appends * 1e6, (time.perf_counter() - wall) / appends * 1e6
            return cpu_us, wall_us, await store.collection("messages").count({})
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cpu: list[float] = []
    wall: list[float] = []
    for n in range(args.rounds):
        round_cpu, round_wall, _ = uvloop.run(one_round(args.appends, args.concurrency))
        cpu.append(round_cpu)
        wall.append(round_wall)
        print(f"round {n + 1}/{args.rounds}: CPU {round_cpu:.0f} us, wall {round_wall:.0f} us per append", flush=True)
    print(f"median: CPU {statistics.median(cpu):.0f} us, wall {statistics.median(wall):.0f} us per append")


if __name__ == "__main__":
    main()
