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
    storm_members: int = 1000  # the reconnect storm: one workspace of this many members (a seeded room size)
    storm_sockets: int = 10000  # ... connecting this many sockets at once
    node: bool = True
    cpu_loads: tuple[float, float] = (1000.0, 4000.0)  # issue 13's fixed loads, deliveries/s (bench/cpu.py)
    cpu_step_seconds: float = 3.0
    benchmarks: tuple[str, ...] = field(
        default=("fanout", "latency", "crossworker", "persist", "senders", "memory", "lateness", "storm")
    )


FULL = Profile(name="full", rooms=((10, 10), (100, 9), (1000, 1)))
QUICK = Profile(
    name="quick",
    rooms=((10, 4), (100, 3), (250, 1)),
    step_seconds=2.5,
    max_steps=10,
    memory_counts=(300, 1000),
    storm_members=250,
    storm_sockets=2500,
    persist_seconds=2.5,
    cross_rooms=2,
    lateness_messages=20,
)
# Issue 13's big rooms on a machine shared with other work (load average far above the core count): a low first
# step and a steeper ramp, so every server finds its ceiling in a few steps and CPU per delivery is read there.
CONTENDED = Profile(
    name="contended",
    rooms=((100, 3), (1000, 1)),
    step_seconds=3.0,
    first_deliveries_per_s=500.0,
    ramp_factor=2.0,
    max_steps=7,
    benchmarks=("fanout",),
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
    storm_members=20,
    storm_sockets=60,
    persist_seconds=0.8,
    persist_window=8,
    cross_room_size=5,
    cross_rooms=2,
    lateness_messages=3,
    node=False,
    cpu_loads=(50.0, 100.0),
    cpu_step_seconds=0.6,
)
PROFILES = {p.name: p for p in (FULL, QUICK, CONTENDED, TINY)}
