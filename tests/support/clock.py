"""A stopped event-loop clock for tests of timers: time moves only when the test says so.

Services that keep deadlines in loop time (`loop.time()`, `asyncio.sleep`) can be tested without real sleeps:
on a loaded machine a real 0.2 s sleep may take a second, and a test that asserts "not expired yet" after one
fails for no fault of the code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

# Event-loop turns given to due timers and the tasks they wake after each `advance`: plenty for a timer that
# wakes a task which emits at once; no real time is involved, so the number does not depend on load.
SETTLE_TURNS = 20


class LoopClock:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now = loop.time()

    def time(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        """Move the clock forward, then let every timer now due run (and the tasks it wakes)."""
        self.now += seconds
        for _ in range(SETTLE_TURNS):
            await asyncio.sleep(0)


@contextmanager
def stopped_loop_clock() -> Iterator[LoopClock]:
    """Stop the running loop's clock for the block. The loop still waits for I/O and threads as usual (its
    select timeout is computed from the stopped clock, so it never spins); only timers wait for `advance`."""
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop)
    loop.time = clock.time  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        del loop.time  # back to the class's real clock
