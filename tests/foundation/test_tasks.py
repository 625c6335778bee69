"""Background tasks always stop, even when a cancellation is lost on the way (Python 3.11 + asyncio.timeout)."""

from __future__ import annotations

import asyncio

import pytest

from connectnow.realtime.tasks import raise_if_cancelling, stop_task


async def test_a_task_that_swallows_one_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed == 0:  # what a cancel turned into TimeoutError and logged looks like
                    swallowed += 1
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    continue
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.05)
    assert await stop_task(task, limit_secs=3.0) is True
    assert task.cancelled() and swallowed == 1


async def test_a_loop_whose_cancel_surfaces_as_another_error_still_stops() -> None:
    rounds = 0
    second_round = asyncio.Event()

    async def loop() -> None:
        nonlocal rounds
        while True:
            try:
                rounds += 1
                if rounds == 2:
                    second_round.set()
                await asyncio.sleep(0.01)
                raise RuntimeError("a library error")
            except Exception:
                raise_if_cancelling()
            await asyncio.sleep(0)

    task = asyncio.create_task(loop())
    # The loop must have survived its own error at least once before the stop: wait for that, not for a
    # fixed time (on a loaded machine 0.05 s may hold a single round).
    await asyncio.wait_for(second_round.wait(), timeout=10)
    assert await stop_task(task, limit_secs=3.0) is True
    assert rounds > 1


async def test_a_task_that_never_stops_is_reported_not_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    stop_for_real = asyncio.Event()

    async def immortal() -> None:
        while not stop_for_real.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:  # ignores every cancel: a bug stop_task must survive
                continue

    task = asyncio.create_task(immortal(), name="immortal")
    try:
        await asyncio.sleep(0.05)  # running, inside its loop
        assert await stop_task(task, limit_secs=0.3) is False
        assert any("immortal did not stop" in r.getMessage() for r in caplog.records)
    finally:
        # The test cleans up what the product code reported, also when an assertion failed: a task that
        # ignores cancels would otherwise hang the event loop's teardown, and with it the whole run.
        stop_for_real.set()
        await asyncio.wait_for(task, 10.0)
