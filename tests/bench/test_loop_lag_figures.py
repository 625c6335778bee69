"""The persist benchmark's loop-lag figures, from two reads of the server's histogram (no server needed)."""

from __future__ import annotations

from bench.ingest import loop_lag_between

INF = float("inf")


def test_lag_between_two_reads_counts_only_the_samples_taken_in_between() -> None:
    before = {0.001: 3.0, 0.005: 4.0, 0.05: 4.0, INF: 4.0}
    # 100 new samples: 90 under 1 ms, 9 more under 5 ms, 1 under 50 ms.
    after = {0.001: 93.0, 0.005: 103.0, 0.05: 104.0, INF: 104.0}
    lag = loop_lag_between(before, after)
    assert lag == {"samples": 100, "p50AtMostMs": 1.0, "p99AtMostMs": 5.0, "maxAtMostMs": 50.0}


def test_lag_past_the_last_bound_and_missing_figures_say_so() -> None:
    assert loop_lag_between(None, {INF: 1.0}) is None  # a server without the histogram (an older build)
    assert loop_lag_between({INF: 2.0}, {INF: 2.0}) == {
        "samples": 0, "p50AtMostMs": None, "p99AtMostMs": None, "maxAtMostMs": None,
    }  # fmt: skip
    # A sample past every finite bucket has no finite bound: null, never a made-up number.
    assert loop_lag_between({0.5: 0.0, INF: 0.0}, {0.5: 0.0, INF: 1.0})["maxAtMostMs"] is None  # type: ignore[index]
