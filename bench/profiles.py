"""How big each benchmark is. Full mode is scaled to a 2-core machine (see BENCHMARKS.md for what and why)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    # fanout: (room size, number of rooms); the mix is rooms of 10, 100 and 1,000, ~2,000 clients
    rooms: tuple[tuple[int, int], ...]
    client_processes: int = 2
    step_seconds: float = 4.0
    first_deliveries_per_s: float = 2000.0  # the ramp's first step
    ramp_factor: float = 1.6
    max_steps: int = 12  # the ramp stops at the first failing step; this only bounds the run time
    p99_limit_ms: float = 100.0
    latency_loads: tuple[float, ...] = (0.25, 0.5, 0.8)  # of baseline (a)'s saturation in rooms of 100
    latency_room_size: int = 100
    memory_counts: tuple[int, ...] = (1000, 5000, 10000)
    persist_seconds: float = 4.0
    persist_window: int = 32  # messages in flight in the ingest test (closed loop)
    cross_room_size: int = 100
    cross_rooms: int = 4
    lateness_messages: int = 50
    node: bool = True
    benchmarks: tuple[str, ...] = field(
        default=("fanout", "latency", "crossworker", "persist", "senders", "memory", "lateness")
    )


FULL = Profile(name="full", rooms=((10, 10), (100, 9), (1000, 1)))
QUICK = Profile(
    name="quick",
    rooms=((10, 4), (100, 3), (250, 1)),
    step_seconds=2.5,
    max_steps=10,
    memory_counts=(300, 1000),
    persist_seconds=2.5,
    cross_rooms=2,
    lateness_messages=20,
)
# The smallest configuration: what tests/bench runs end to end in seconds (shape, not speed).
TINY = Profile(
    name="tiny",
    rooms=((5, 2), (20, 1)),
    client_processes=1,
    step_seconds=0.6,
    first_deliveries_per_s=200.0,
    max_steps=2,
    latency_loads=(0.5,),
    latency_room_size=20,
    memory_counts=(50,),
    persist_seconds=0.8,
    persist_window=8,
    cross_room_size=5,
    cross_rooms=2,
    lateness_messages=3,
    node=False,
)
PROFILES = {p.name: p for p in (FULL, QUICK, TINY)}
