"""Stopping background tasks without ever hanging a shutdown."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

log = logging.getLogger("connectnow.tasks")

STOP_TIMEOUT_SECS = 5.0
RECANCEL_SECS = 0.5  # a cancel that got lost is repeated this often while stopping


async def stop_task(task: asyncio.Task[Any] | None, *, limit_secs: float = STOP_TIMEOUT_SECS) -> bool:
    """Cancel a task and wait for it at most `limit_secs`; True when it ended.

    The cancel is repeated: on Python 3.11 a cancellation that meets an `asyncio.timeout` expiring inside a
    library (redis-py) can come out as a TimeoutError, which a loop's error handler then survives. A task that
    still runs at the limit is reported with its stack, and the shutdown goes on instead of hanging."""
    if task is None or task.done():
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_secs
    while True:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=max(0.0, min(RECANCEL_SECS, deadline - loop.time())))
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.error("task %s failed while stopping: %r", task.get_name(), task.exception())
            return True
        if loop.time() >= deadline:
            break
    stack = io.StringIO()
    task.print_stack(file=stack)
    log.error("task %s did not stop within %.1fs; it is stuck at:\n%s", task.get_name(), limit_secs, stack.getvalue())
    return False


def raise_if_cancelling() -> None:
    """Call first in a loop's `except Exception:`: a stop that surfaced as another error still stops the loop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def bounded(awaitable: object, what: str, *, limit_secs: float = STOP_TIMEOUT_SECS) -> None:
    """Await a closing step for at most `limit_secs`, logging (not raising) when it overruns."""
    try:
        await asyncio.wait_for(awaitable, limit_secs)  # type: ignore[arg-type]
    except TimeoutError:
        log.error("%s did not finish within %.1fs; going on with the shutdown", what, limit_secs)
