"""`bench.step_driver`, the message step timed in process (shape, not speed)."""

from __future__ import annotations

from bench import step_driver


async def test_a_round_stores_every_append_it_times() -> None:
    cpu_us, wall_us, stored = await step_driver.one_round(40, 2)
    assert stored == step_driver.WARM_UP + 40
    assert cpu_us > 0 and wall_us > 0
