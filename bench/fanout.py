"""Benchmarks 1 and 2: fan-out ramp per room size, and latency at fixed fractions of baseline (a)'s ceiling.

Every server under test gets the same clients in the same rooms: ConnectNow (authenticated, validated, stored,
fanned out), (a) a raw WebSocket broadcaster, (b) bare python-socketio, (c) Node.js Socket.IO 4.
"""

from __future__ import annotations

from typing import Any

from bench.fleet import Fleet, RoomSpec, client_specs
from bench.profiles import Profile
from bench.servers import Server


def ramp(fleet: Fleet, rooms: list[RoomSpec], size: int, profile: Profile) -> dict[str, Any]:
    """Raise the send rate until p99 passes the limit or a message is lost (twice in a row at one rate); the
    best passing step wins."""
    chosen = [r for r in rooms if len(r.members) == size]
    rate = profile.first_deliveries_per_s / size
    steps, best = [], None
    for _ in range(profile.max_steps):
        result = step_once(fleet, rate, [r.room for r in chosen], profile)
        steps.append(result)
        if not result["passed"]:
            # The machine is shared: one stall elsewhere can fail a step. A failure counts when it repeats.
            result = step_once(fleet, rate, [r.room for r in chosen], profile)
            result["retry"] = True
            steps.append(result)
        if not result["passed"]:
            break
        best = result
        rate *= profile.ramp_factor
    return {
        "roomSize": size,
        "rooms": len(chosen),
        "maxSustainedDeliveriesPerS": best["deliveriesPerS"] if best else 0.0,
        "serverCpuUsPerDelivery": best["serverCpuUsPerDelivery"] if best else None,
        "steps": steps,
    }


def step_once(fleet: Fleet, rate: float, rooms: list[str], profile: Profile) -> dict[str, Any]:
    result = fleet.run_step(rate, profile.step_seconds, rooms=rooms)
    p99 = result["latency"]["p99Ms"]
    result["passed"] = result["lost"] == 0 and p99 is not None and p99 <= profile.p99_limit_ms
    return result


def run_server(
    server: Server, rooms: list[RoomSpec], profile: Profile, latency_rates: list[float] | None
) -> dict[str, Any]:
    """Ramp every room size, then (with `latency_rates` in deliveries/s; empty: from this server's own ramp,
    for baseline (a)) hold each latency load."""
    fleet = Fleet(server, client_specs(server, rooms), profile.client_processes)
    try:
        connected = fleet.connect()
        sizes = sorted({len(r.members) for r in rooms})
        out: dict[str, Any] = {"server": server.name, "connect": connected, "rampBySize": {}}
        for size in sizes:
            out["rampBySize"][str(size)] = ramp(fleet, rooms, size, profile)
        if latency_rates is not None:
            size = profile.latency_room_size
            if not latency_rates:
                ceiling = out["rampBySize"][str(size)]["maxSustainedDeliveriesPerS"]
                latency_rates = [frac * ceiling for frac in profile.latency_loads]
            out["latencyRatesDeliveriesPerS"] = [round(r, 1) for r in latency_rates]
            chosen = [r.room for r in rooms if len(r.members) == size]
            out["latency"] = [
                {"loadFraction": frac, **fleet.run_step(rate / size, profile.step_seconds * 2, rooms=chosen)}
                for frac, rate in zip(profile.latency_loads, latency_rates, strict=True)
            ]
        return out
    finally:
        fleet.close()
