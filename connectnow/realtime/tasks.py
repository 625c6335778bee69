"""Stopping background tasks without ever hanging a shutdown."""

from __future__ import annotations

import asyncio
import io
import logging

log = logging.getLogger("connectnow.tasks")

STOP_TIMEOUT_SECS = 5.0


async def stop_task(task: asyncio.Task[object] | None, *, limit_secs: float = STOP_TIMEOUT_SECS) -> bool:
    """Cancel a task and wait for it at most `limit_secs`; True when it ended.

    A task that ignores cancellation is a bug: it is reported with its stack (the place it is stuck), and
    the shutdown goes on instead of hanging."""
    if task is None or task.done():
        return True
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=limit_secs)
    if done:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed while stopping: %r", task.get_name(), task.exception())
        return True
    stack = io.StringIO()
    task.print_stack(file=stack)
    log.error("task %s did not stop within %.1fs; it is stuck at:\n%s", task.get_name(), limit_secs, stack.getvalue())
    return False


async def bounded(awaitable: object, what: str, *, limit_secs: float = STOP_TIMEOUT_SECS) -> None:
    """Await a closing step for at most `limit_secs`, logging (not raising) when it overruns."""
    try:
        await asyncio.wait_for(awaitable, limit_secs)  # type: ignore[arg-type]
    except TimeoutError:
        log.error("%s did not finish within %.1fs; going on with the shutdown", what, limit_secs)
