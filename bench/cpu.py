"""Issue 13: server CPU per delivery as the slope between two fixed loads, for every server in one run.

On a machine whose load average is far above its core count (other work shares the 2 cores), the latency
ramp of benchmark 1 fails for every server, the raw baseline included, at a few thousand deliveries/s: the
ceiling measures the machine, not the server. CPU time is far less sensitive to that: each server is offered
the same two fixed loads per room size, and (CPU share at the high load - CPU share at the low load) / (extra
deliveries/s) is its marginal CPU per delivery, free of the fixed background cost (timers, heartbeats).
1e6 / that is the deliveries one core would sustain: the capacity ratio reported against Node.js.
"""

from __future__ import annotations

from typing import Any

from bench.fleet import Fleet, RoomSpec, client_specs
from bench.profiles import Profile
from bench.servers import Server
from bench.stats import ratio


def _point(step: dict[str, Any], seconds: float) -> tuple[float, float]:
    """(deliveries/s over the step's wall time, CPU share) of one fixed-load step."""
    cpu_s = (step["serverCpuUsPerDelivery"] or 0.0) * step["deliveries"] / 1e6
    share = step["serverCpuShare"]
    elapsed = cpu_s / share if share else seconds
    return step["deliveries"] / elapsed, share


def measure(server: Server, rooms: list[RoomSpec], sizes: list[int], profile: Profile) -> dict[str, Any]:
    fleet = Fleet(server, client_specs(server, rooms), profile.client_processes)
    seconds = profile.cpu_step_seconds
    try:
        fleet.connect()
        out: dict[str, Any] = {}
        for size in sizes:
            chosen = [r.room for r in rooms if len(r.members) == size]
            steps = [fleet.run_step(load / size, seconds, rooms=chosen) for load in profile.cpu_loads]
            (lo_rate, lo_share), (hi_rate, hi_share) = (_point(s, seconds) for s in steps)
            slope = (hi_share - lo_share) / (hi_rate - lo_rate) * 1e6 if hi_rate > lo_rate else None
            out[str(size)] = {
                "marginalCpuUsPerDelivery": round(slope, 2) if slope else None,
                "deliveriesPerCoreSecond": round(1e6 / slope) if slope and slope > 0 else None,
                "steps": steps,
            }
        return out
    finally:
        fleet.close()


def summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sizes = next(iter(results.values())).keys()
    for size in sizes:
        row = {key: res[size]["marginalCpuUsPerDelivery"] for key, res in results.items()}
        cn = row.get("connectnow")
        out[size] = {
            "cpuUsPerDelivery": row,
            "connectnowVsRaw": ratio(cn, row.get("raw")),
            "connectnowCapacityVsNode": ratio(row.get("node"), cn),
            "connectnowCapacityVsBefore": ratio(row.get("before"), cn),
        }
    return out
