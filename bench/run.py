"""Runs the chosen benchmarks in one go, each against its baseline started in the same run."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fanout, servers
from bench.fleet import RoomSpec
from bench.profiles import Profile
from bench.seed import seed
from bench.stats import ratio

Log = Callable[[str], None]


class Run:
    def __init__(self, profile: Profile, log: Log, keep: bool = False) -> None:
        self.profile = profile
        self.log = log
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix="cn-bench-"))
        self.data_dir = self.workdir / "data"
        self.rooms: list[RoomSpec] = []

    def seed_rooms(self) -> None:
        sizes = [size for size, count in self.profile.rooms for _ in range(count)]
        started = time.monotonic()
        self.rooms = [RoomSpec(r.channel_id, r.tokens) for r in seed(self.data_dir, sizes)]
        self.log(f"seeded {sum(sizes)} users in {len(sizes)} rooms in {time.monotonic() - started:.1f}s")

    def fanout_and_latency(self) -> dict[str, Any]:
        p = self.profile
        want_latency = "latency" in p.benchmarks
        results: dict[str, Any] = {}
        raw = servers.start_raw(self.workdir)
        try:
            self.log("fanout: (a) raw WebSocket broadcaster")
            results["raw"] = fanout.run_server(raw, self.rooms, p, [] if want_latency else None)
        finally:
            raw.stop()
        rates = results["raw"].get("latencyRatesDeliveriesPerS") if want_latency else None
        targets: list[tuple[str, Callable[[], servers.Server]]] = [
            ("bare", lambda: servers.start_bare_sio(self.workdir))
        ]
        if p.node:
            modules = servers.install_node_socketio(self.workdir)
            if modules is None:
                self.log("fanout: node or npm missing (or npm install failed): baseline (c) skipped")
            else:
                targets.append(("node", lambda: servers.start_node_sio(self.workdir, modules)))
        targets.append(("connectnow", lambda: servers.start_connectnow(self.workdir, self.data_dir)))
        for key, start in targets:
            server = start()
            try:
                self.log(f"fanout: {server.name}")
                results[key] = fanout.run_server(server, self.rooms, p, rates)
            finally:
                server.stop()
        return {"servers": results, "summary": fanout_summary(results)}

    def all(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        chosen = self.profile.benchmarks
        if {"fanout", "latency", "crossworker", "memory", "lateness", "persist"} & set(chosen):
            self.seed_rooms()
        if "fanout" in chosen or "latency" in chosen:
            out["fanout"] = self.fanout_and_latency()
        for name in ("crossworker", "persist", "memory", "lateness"):
            if name in chosen:
                self.log(f"{name}")
                out[name] = getattr(self, name)()
        return out

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def fanout_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per room size: each server's deliveries/s and its ratio to (a); ConnectNow against (b) and (c)."""
    summary: dict[str, Any] = {}
    for size, raw in results["raw"]["rampBySize"].items():
        base = raw["maxSustainedDeliveriesPerS"]
        row: dict[str, Any] = {}
        for key, res in results.items():
            ramp = res["rampBySize"][size]
            value = ramp["maxSustainedDeliveriesPerS"]
            row[key] = {
                "deliveriesPerS": value,
                "vsRaw": ratio(value, base),
                "cpuUsPerDelivery": ramp["serverCpuUsPerDelivery"],
            }
        cn = row.get("connectnow", {}).get("deliveriesPerS")
        for other in ("bare", "node"):
            if other in row:
                row["connectnow"][f"vs{other.title()}"] = ratio(cn, row[other]["deliveriesPerS"])
        summary[size] = row
    return summary
