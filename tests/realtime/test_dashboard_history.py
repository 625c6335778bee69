"""The dashboard's samples: quantiles from histogram readings, rates from counters, and merging workers."""

from __future__ import annotations

import math

from connectnow.metrics import Metrics
from connectnow.services.dashboard_history import ClusterHistory, Sampler, quantile_ms

INF = math.inf


def test_quantiles_interpolate_within_the_bucket_of_what_was_observed_between_readings() -> None:
    before = [(0.001, 10.0), (0.01, 10.0), (0.1, 10.0), (INF, 10.0)]  # 10 old observations under 1 ms
    after = [(0.001, 10.0), (0.01, 60.0), (0.1, 110.0), (INF, 110.0)]  # then 50 in (1, 10] ms, 50 in (10, 100]
    assert quantile_ms(before, after, 0.5) == 10.0  # the 50th of 100 new ones: the top of the first busy bucket
    assert quantile_ms(before, after, 0.99) == 98.2  # 49th of 50 in (10, 100]: 10 + 90 * 49/50
    assert quantile_ms(before, before, 0.5) is None  # nothing observed: no number, not zero
    beyond = [(0.001, 10.0), (0.01, 10.0), (0.1, 10.0), (INF, 12.0)]
    assert quantile_ms(before, beyond, 0.99) == 100.0  # past the last bound: the last bound is all we know


def test_a_sample_reports_rates_and_errors_since_the_previous_one() -> None:
    metrics = Metrics()
    sampler = Sampler(metrics)
    metrics.connects.inc(4)
    metrics.messages.inc(10)
    metrics.refused("RATE_LIMITED")
    metrics.refused("NOT_FOUND")
    metrics.fanout_latency.observe(0.004)
    sample = sampler.sample(sockets=3, loop_lag_seconds=0.002)
    assert sample["sockets"] == 3 and sample["loopLag"] == 2.0
    assert sample["connects"] > 0 and sample["messages"] > sample["connects"] and sample["disconnects"] == 0
    assert set(sample["errors"]) == {"RATE_LIMITED", "NOT_FOUND"} and sample["rateLimited"] > 0
    assert sample["fanoutP50"] is not None and 2.5 < sample["fanoutP50"] <= 5.0
    quiet = sampler.sample(sockets=3, loop_lag_seconds=0.0)
    assert quiet["messages"] == 0 and quiet["errors"] == {} and quiet["fanoutP99"] is None


def test_history_keeps_fifteen_minutes_per_worker_and_merges_a_late_copy_by_time() -> None:
    history = ClusterHistory(interval_seconds=2.0)
    assert history.maxlen == 450
    for t in range(1000):
        history.add("a", {"t": float(t)}, {"broker": "redis"})
    assert [s["t"] for s in history.own("a")][:2] == [550.0, 551.0] and len(history.own("a")) == 450
    history.add("b", {"t": 10.0}, None)
    history.merge("b", [{"t": 5.0}, {"t": 10.0}, {"t": 7.0}], {"broker": "redis"})
    assert [s["t"] for s in history.own("b")] == [5.0, 7.0, 10.0]
    assert [w["worker"] for w in history.snapshot()] == ["a", "b"]
