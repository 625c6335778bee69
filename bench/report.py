"""The printed table (a compact view of the JSON)."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def table(result: dict[str, Any]) -> str:
    lines: list[str] = [f"profile {result['profile']['name']} on {result['machine']}"]
    bench = result["benchmarks"]
    if "fanout" in bench:
        lines.append("\nfanout: max sustained deliveries/s (ratio to raw WebSocket) | server CPU us/delivery")
        for size, row in bench["fanout"]["summary"].items():
            cells = [
                f"{key} {_fmt(v['deliveriesPerS'])} ({_fmt(v['vsRaw'])}) {_fmt(v['cpuUsPerDelivery'])}us"
                for key, v in row.items()
            ]
            lines.append(f"  room {size:>5}: " + " | ".join(cells))
        servers = bench["fanout"]["servers"]
        lines.append("\nlatency (ms from intended send time) p50 / p99 / p99.9 / max")
        for key, res in servers.items():
            for point in res.get("latency", []):
                lat = point["latency"]
                lines.append(
                    f"  {key:>10} at {point['loadFraction']:.0%} of raw: {lat['p50Ms']} / {lat['p99Ms']} / "
                    f"{lat['p999Ms']} / {lat['maxMs']}  (lost {point['lost']})"
                )
    for name in ("crossworker", "persist", "memory", "lateness"):
        if name in bench:
            lines.append(f"\n{name}:")
            for key, value in bench[name].get("summary", {}).items():
                lines.append(f"  {key}: {_fmt(value)}")
    return "\n".join(lines)
