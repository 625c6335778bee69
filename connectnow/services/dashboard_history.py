"""The dashboard's last 15 minutes: each worker samples its own Prometheus registry, and every worker merges
the samples of all workers (they travel over the broker, so with Redis every worker sees every other).

A sample is what happened on one worker since its previous sample, as rates per second and latency
quantiles (interpolated within histogram buckets, as Prometheus's `histogram_quantile` does):
`{"t", "sockets", "connects", "disconnects", "messages", "fanoutP50", "fanoutP99", "loopLag", "publishP99",
"pubsubLagP99", "rateLimited", "errors": {code: per second}}`, latencies in milliseconds (null when nothing
was observed in the interval). Nothing is stored: a restarted worker asks the others for their history.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram

from connectnow.metrics import Metrics

HISTORY_SECONDS = 15 * 60
Buckets = list[tuple[float, float]]  # (upper bound, cumulative count), +Inf last


def _histogram_buckets(histogram: Histogram) -> Buckets:
    return [
        (float(sample.labels["le"]), sample.value)
        for metric in histogram.collect()
        for sample in metric.samples
        if sample.name.endswith("_bucket")
    ]


def _counter_by_label(counter: Counter, label: str) -> dict[str, float]:
    return {
        sample.labels[label]: sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


def _counter_value(counter: Counter) -> float:
    return sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total"))


def quantile_ms(before: Buckets, after: Buckets, q: float) -> float | None:
    """The q-quantile of what was observed between two readings of a histogram, in milliseconds."""
    deltas = [(bound, now - then) for (bound, now), (_, then) in zip(after, before, strict=True)]
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in deltas:
        if cumulative >= rank:
            if math.isinf(bound):
                return round(lower * 1000, 3)  # past the last finite bucket: its bound is the best we know
            share = (rank - below) / (cumulative - below) if cumulative > below else 1.0
            return round((lower + (bound - lower) * share) * 1000, 3)
        lower, below = bound, cumulative
    return round(lower * 1000, 3)


@dataclass
class _Reading:
    at: float
    connects: float
    disconnects: float
    messages: float
    rate_limited: float
    refusals: dict[str, float]
    fanout: Buckets
    publish: Buckets
    pubsub: Buckets


class Sampler:
    """Turns two readings of this worker's registry into one sample."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._previous = self._read()

    def _read(self) -> _Reading:
        m = self.metrics
        return _Reading(
            at=time.monotonic(),
            connects=_counter_value(m.connects),
            disconnects=_counter_value(m.disconnects),
            messages=_counter_value(m.messages),
            rate_limited=_counter_value(m.rate_limited),
            refusals=_counter_by_label(m.refusals, "code"),
            fanout=_histogram_buckets(m.fanout_latency),
            publish=_histogram_buckets(m.broker_publish),
            pubsub=_histogram_buckets(m.pubsub_lag),
        )

    def sample(self, sockets: int, loop_lag_seconds: float) -> dict[str, Any]:
        now, then = self._read(), self._previous
        self._previous = now
        elapsed = max(now.at - then.at, 1e-3)

        def rate(after: float, before: float) -> float:
            return round(max(0.0, after - before) / elapsed, 3)

        errors = {
            code: rate(count, then.refusals.get(code, 0.0))
            for code, count in now.refusals.items()
            if count > then.refusals.get(code, 0.0)
        }
        return {
            "t": round(time.time(), 3),
            "sockets": sockets,
            "connects": rate(now.connects, then.connects),
            "disconnects": rate(now.disconnects, then.disconnects),
            "messages": rate(now.messages, then.messages),
            "fanoutP50": quantile_ms(then.fanout, now.fanout, 0.5),
            "fanoutP99": quantile_ms(then.fanout, now.fanout, 0.99),
            "loopLag": round(max(0.0, loop_lag_seconds) * 1000, 3),
            "publishP99": quantile_ms(then.publish, now.publish, 0.99),
            "pubsubLagP99": quantile_ms(then.pubsub, now.pubsub, 0.99),
            "rateLimited": rate(now.rate_limited, then.rate_limited),
            "errors": errors,
        }


@dataclass
class _WorkerSeries:
    samples: deque[dict[str, Any]]
    health: dict[str, Any] = field(default_factory=dict)
    seen: float = field(default_factory=time.monotonic)


class ClusterHistory:
    """Every worker's samples for the last 15 minutes, as this worker has received them."""

    def __init__(self, interval_seconds: float) -> None:
        self.maxlen = max(1, math.ceil(HISTORY_SECONDS / interval_seconds))
        self.workers: dict[str, _WorkerSeries] = {}

    def _series(self, worker: str) -> _WorkerSeries:
        series = self.workers.get(worker)
        if series is None:
            series = self.workers[worker] = _WorkerSeries(deque(maxlen=self.maxlen))
        series.seen = time.monotonic()
        return series

    def add(self, worker: str, sample: dict[str, Any], health: dict[str, Any] | None) -> None:
        series = self._series(worker)
        if not series.samples or sample["t"] > series.samples[-1]["t"]:
            series.samples.append(sample)
        if health:
            series.health = health

    def merge(self, worker: str, samples: list[dict[str, Any]], health: dict[str, Any] | None) -> None:
        """A worker's whole history (answering a newcomer): merged by time with what is already here."""
        series = self._series(worker)
        by_time = {s["t"]: s for s in [*samples, *series.samples] if isinstance(s, dict) and "t" in s}
        series.samples = deque(sorted(by_time.values(), key=lambda s: s["t"]), maxlen=self.maxlen)
        if health and not series.health:
            series.health = health

    def prune(self) -> None:
        """Forget workers that have sent nothing for 15 minutes (stopped or crashed)."""
        cutoff = time.monotonic() - HISTORY_SECONDS
        for worker in [w for w, s in self.workers.items() if s.seen < cutoff]:
            del self.workers[worker]

    def own(self, worker: str) -> list[dict[str, Any]]:
        series = self.workers.get(worker)
        return list(series.samples) if series else []

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {"worker": worker, "health": series.health, "samples": list(series.samples)}
            for worker, series in sorted(self.workers.items())
        ]
