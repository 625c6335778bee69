"""Runs the chosen benchmarks in one go, each against its baseline started in the same run."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import cluster, cpu, fanout, ingest, memory, senders, servers, storm
from bench.fleet import RoomSpec
from bench.profiles import Profile
from bench.seed import seed
from bench.stats import ratio

Log = Callable[[str], None]
LATENESS_RACING_WORKERS = 3  # schedulers racing for the same deliveries in the lateness benchmark
MEMORY_ROOM_MAX = 100  # members: the memory benchmark's sockets go to rooms no bigger than this


class Run:
    def __init__(self, profile: Profile, log: Log, keep: bool = False, before_tree: Path | None = None) -> None:
        self.before_tree = before_tree  # another checkout's ConnectNow, run as server "before"
        self.profile = profile
        self.log = log
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix="cn-bench-"))
        self.data_dir = self.workdir / "data"
        self.rooms: list[RoomSpec] = []
        self.solo: RoomSpec | None = None  # a room with one member: the ingest test's target

    def seed_rooms(self) -> None:
        sizes = [size for size, count in self.profile.rooms for _ in range(count)]
        started = time.monotonic()
        seeded = [RoomSpec(r.channel_id, r.tokens) for r in seed(self.data_dir, [*sizes, 1])]
        self.rooms, self.solo = seeded[:-1], seeded[-1]
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
        if self.before_tree is not None:
            tree = self.before_tree
            targets.append(
                ("before", lambda: servers.start_connectnow(self.workdir, self.data_dir, "before", tree=tree))
            )
        targets.append(("connectnow", self.start_cn))
        for key, start in targets:
            server = start()
            try:
                self.log(f"fanout: {server.name}")
                results[key] = fanout.run_server(server, self.rooms, p, rates)
            finally:
                server.stop()
        return {"servers": results, "summary": fanout_summary(results)}

    @property
    def _start_before(self) -> Callable[[], servers.Server] | None:
        tree = self.before_tree
        if tree is None:
            return None
        return lambda: servers.start_connectnow(self.workdir, self.data_dir, "before", tree=tree)

    def cpu(self) -> dict[str, Any]:
        """Issue 13: marginal CPU per delivery of every server at fixed loads (bench/cpu.py)."""
        starts: list[tuple[str, Callable[[], servers.Server]]] = [
            ("raw", lambda: servers.start_raw(self.workdir)),
            ("bare", lambda: servers.start_bare_sio(self.workdir)),
        ]
        modules = servers.install_node_socketio(self.workdir) if self.profile.node else None
        if modules is not None:
            starts.append(("node", lambda: servers.start_node_sio(self.workdir, modules)))
        if self._start_before is not None:
            starts.append(("before", self._start_before))
        starts.append(("connectnow", self.start_cn))
        sizes = sorted({len(r.members) for r in self.rooms})
        results: dict[str, Any] = {}
        for key, start in starts:
            server = start()
            try:
                self.log(f"cpu: {server.name}")
                results[key] = cpu.measure(server, self.rooms, sizes, self.profile)
            finally:
                server.stop()
        return {"servers": results, "summary": cpu.summary(results)}

    def start_cn(self, name: str = "connectnow", profile_to: Path | None = None, **extra: str) -> servers.Server:
        return servers.start_connectnow(self.workdir, self.data_dir, name, profile_to, None, **extra)

    def crossworker(self) -> dict[str, Any]:
        from tests.support.redis_server import RedisServer

        p = self.profile
        rooms = [r for r in self.rooms if len(r.members) == p.cross_room_size][: p.cross_rooms]
        redis = RedisServer.start()
        try:
            raw = cluster.redis_rate(redis.url, p.step_seconds)
            results = {"rawRedis": raw}
            for workers in (1, 2):
                server = self.start_cn(f"connectnow-w{workers}", workers=str(workers), redis_url=redis.url)
                try:
                    self.log(f"crossworker: {workers} worker(s) over Redis")
                    results[f"workers{workers}"] = cluster.ramp_on(server, rooms, p.cross_room_size, p)
                finally:
                    server.stop()
        finally:
            redis.stop()
        results["summary"] = cluster.cross_summary(results["workers1"], results["workers2"], raw)
        return results

    def persist(self) -> dict[str, Any]:
        assert self.solo is not None
        raw = ingest.raw_sqlite(self.workdir, self.profile.persist_seconds)
        networks, sample = ingest.METRICS_NETWORKS, ingest.LAG_SAMPLE_SECONDS
        server = self.start_cn(metrics_allowed_networks=networks, dashboard_interval_seconds=sample)
        try:
            cn = ingest.connectnow_ingest(server, self.solo, self.profile)
        finally:
            server.stop()
        out = {"rawSqlite": raw, "connectnow": cn, "summary": ingest.summarize(cn, raw)}
        if self.before_tree is not None:
            server = servers.start_connectnow(
                self.workdir, self.data_dir, "before", tree=self.before_tree,
                metrics_allowed_networks=networks, dashboard_interval_seconds=sample,
            )  # fmt: skip
            try:
                before = out["before"] = ingest.connectnow_ingest(server, self.solo, self.profile)
            finally:
                server.stop()
            summary = out["summary"]
            summary["beforeMessagesPerS"] = before["messagesPerS"]
            summary["afterOverBefore"] = ratio(cn["messagesPerS"], before["messagesPerS"])
            summary["beforeCpuUsPerStoredMessageAtMax"] = before["cpuUsPerStoredMessage"]
            summary["beforeHalfRateAckP99Ms"] = ((before.get("halfRate") or {}).get("ack") or {}).get("p99Ms")
        return out

    def senders(self) -> dict[str, Any]:
        """Two workers over Redis, concurrent senders in one channel (issue 11): messages/s and order."""
        from tests.support.redis_server import RedisServer

        room = next(r for r in self.rooms if len(r.members) >= senders.SENDERS + senders.WATCHERS)
        seconds = self.profile.persist_seconds
        redis = RedisServer.start()
        out: dict[str, Any] = {}
        try:
            runs: list[tuple[str, Callable[[], servers.Server]]] = [
                ("connectnow", lambda: self.start_cn("connectnow-senders", workers="2", redis_url=redis.url))
            ]
            if self.before_tree is not None:
                tree = self.before_tree
                runs.append(
                    (
                        "before",
                        lambda: servers.start_connectnow(
                            self.workdir, self.data_dir, "before-senders", tree=tree, workers="2", redis_url=redis.url
                        ),
                    )
                )
            for key, start in runs:
                server = start()
                try:
                    out[key] = senders.run(server, room, seconds)
                finally:
                    server.stop()
        finally:
            redis.stop()
        summary: dict[str, Any] = {}
        for key, res in out.items():
            prefix = "" if key == "connectnow" else f"{key}."
            summary[f"{prefix}messagesPerS"] = res["messagesPerS"]
            summary[f"{prefix}ackP99Ms"] = res["ack"]["p99Ms"]
            summary[f"{prefix}cpuUsPerStoredMessage"] = res["cpuUsPerStoredMessage"]
            summary[f"{prefix}outOfOrderDeliveries"] = res["outOfOrder"]
            summary[f"{prefix}missedLive"] = res["missed"]
        if "before" in out:
            summary["afterOverBefore"] = ratio(out["connectnow"]["messagesPerS"], out["before"]["messagesPerS"])
        return {**out, "summary": summary}

    def memory(self) -> dict[str, Any]:
        # Rooms of at most 100: every user's first socket announces presence to their whole workspace, and
        # with 1,000 members that quadratic storm (not memory) would dominate the time to connect 10,000.
        rooms = [r for r in self.rooms if len(r.members) <= MEMORY_ROOM_MAX] or self.rooms
        return memory.run(
            self.start_cn,
            lambda: servers.start_raw(self.workdir),
            lambda: servers.start_bare_sio(self.workdir),
            rooms,
            self.profile,
            self._start_before,
        )

    def storm(self) -> dict[str, Any]:
        p = self.profile
        room = next(r for r in self.rooms if len(r.members) == p.storm_members)
        bare = lambda: servers.start_bare_sio(self.workdir)  # noqa: E731
        return storm.run(self.start_cn, bare, room, p.storm_sockets, p.client_processes)

    def lateness(self) -> dict[str, Any]:
        """One worker, then several workers over Redis whose schedulers race for the same deliveries (each
        schedule is posted to whichever worker the kernel hands the connection to)."""
        from tests.support.redis_server import RedisServer

        poll = 1.0  # CONNECTNOW_BROADCAST_POLL_SECONDS, the default: the fallback, not what sets lateness
        server = self.start_cn(broadcast_poll_seconds=str(poll))
        try:
            one = cluster.lateness(server, self.rooms[0], self.profile, poll)
        finally:
            server.stop()
        redis = RedisServer.start()
        try:
            workers = str(LATENESS_RACING_WORKERS)
            server = self.start_cn(
                "connectnow-racing", workers=workers, redis_url=redis.url, broadcast_poll_seconds=str(poll)
            )
            try:
                racing = cluster.lateness(server, self.rooms[0], self.profile, poll)
            finally:
                server.stop()
        finally:
            redis.stop()
        return {
            "oneWorker": one,
            "racing": racing,
            "summary": cluster.lateness_summary(one, racing, LATENESS_RACING_WORKERS),
        }

    def all(self, checkpoint: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Every chosen benchmark; `checkpoint` gets the results so far after each one (a long run that is
        interrupted keeps what it measured)."""
        out: dict[str, Any] = {}
        chosen = self.profile.benchmarks
        seeded = {"fanout", "latency", "crossworker", "memory", "lateness", "persist", "cpu", "storm", "senders"}
        if seeded & set(chosen):
            self.seed_rooms()
        if "cpu" in chosen:
            out["cpu"] = self.cpu()
            if checkpoint:
                checkpoint(out)
        if "fanout" in chosen or "latency" in chosen:
            out["fanout"] = self.fanout_and_latency()
            if checkpoint:
                checkpoint(out)
        for name in ("crossworker", "persist", "senders", "memory", "lateness", "storm"):
            if name in chosen:
                self.log(f"{name}")
                out[name] = getattr(self, name)()
                if checkpoint:
                    checkpoint(out)
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
        for other in ("bare", "node", "before"):
            if other in row:
                row["connectnow"][f"vs{other.title()}"] = ratio(cn, row[other]["deliveriesPerS"])
        summary[size] = row
    return summary
