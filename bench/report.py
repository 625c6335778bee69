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
    for name in ("crossworker", "persist", "senders", "memory", "lateness"):
        if name in bench:
            lines.append(f"\n{name}:")
            for key, value in bench[name].get("summary", {}).items():
                lines.append(f"  {key}: {_fmt(value)}")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """The tables BENCHMARKS.md records, from one run's JSON (`python -m bench report FILE`)."""
    m = result["machine"]
    out = [
        f"Command: `{result['command']}` (profile `{result['profile']['name']}`), {result['startedAt']} to "
        f"{result.get('finishedAt')}.",
        f"Machine: {m['nproc']} CPUs ({m['cpuModel']}), {m['memoryGiB']} GiB, Python {m['python']}, "
        f"node {m['node']}, {m['platform']}; load average at start {m['loadAverage']}.",
    ]
    bench = result["benchmarks"]
    if "fanout" in bench:
        servers = bench["fanout"]["servers"]
        keys = list(servers)
        out += [
            "",
            "### 1. Fan-out: max sustained deliveries/s (ratio to (a) raw WebSocket; server CPU us/delivery)",
            "",
        ]
        out += ["| room size | " + " | ".join(keys) + " | ConnectNow / (b) | ConnectNow / (c) | after / before |"]
        out += ["|---" * (len(keys) + 4) + "|"]
        for size, row in bench["fanout"]["summary"].items():
            cells = [
                f"{_fmt(row[k]['deliveriesPerS'])} ({_fmt(row[k]['vsRaw'])}; {_fmt(row[k]['cpuUsPerDelivery'])} us)"
                for k in keys
            ]
            cn = row.get("connectnow", {})
            out.append(
                f"| {size} | " + " | ".join(cells) + f" | {_fmt(cn.get('vsBare'))} | {_fmt(cn.get('vsNode'))} | "
                f"{_fmt(cn.get('vsBefore'))} |"
            )
        out += [
            "",
            f"### 2. Latency from the intended send time, rooms of {result['profile']['latency_room_size']} (ms)",
            "",
        ]
        out += [
            "| server | load (of (a)'s ceiling) | deliveries/s offered | p50 | p99 | p99.9 | max | lost |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, res in servers.items():
            for point in res.get("latency", []):
                lat = point["latency"]
                offered = point["rateMsgsPerS"] * result["profile"]["latency_room_size"]
                out.append(
                    f"| {key} | {point['loadFraction']:.0%} | {_fmt(offered)} | {lat['p50Ms']} | {lat['p99Ms']} | "
                    f"{lat['p999Ms']} | {lat['maxMs']} | {point['lost']} |"
                )
    titles = {
        "crossworker": "### 3. Cross-worker (Redis)",
        "persist": "### 4. Persist (SQLite)",
        "senders": "### 7. Concurrent senders, two workers over Redis, one channel (issue 11)",
        "memory": "### 5. Memory per idle connection",
        "lateness": "### 6. Scheduled-delivery lateness (broadcasts scheduler, issue 6)",
    }
    for name, title in titles.items():
        if name in bench:
            out += ["", title, "", "| figure | value |", "|---|---|"]
            out += [f"| {k} | {_fmt(v)} |" for k, v in bench[name].get("summary", {}).items()]
    return "\n".join(out)
