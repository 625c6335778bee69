"""The benchmark suite's smallest configuration, end to end: real servers, real load-generator processes.

Checks the shape of the JSON only; speed targets live in BENCHMARKS.md, never in tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _latency_shape(lat: dict[str, object], empty: bool = False) -> None:
    assert set(lat) == {"p50Ms", "p99Ms", "p999Ms", "maxMs"}
    if empty:  # nothing was measured: JSON null, never a made-up number
        assert all(v is None for v in lat.values())
    else:
        assert all(isinstance(v, float | int) and v >= 0 for v in lat.values())


@pytest.mark.e2e
@pytest.mark.slow
def test_tiny_run_writes_every_figure_with_its_baseline(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--profile", "tiny", "--only", "fanout,latency,persist", "--out",
         str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fanout: max sustained deliveries/s" in done.stdout
    [path] = tmp_path.glob("bench-tiny-*.json")
    result = json.loads(path.read_text())
    assert result["machine"]["nproc"] >= 1 and result["machine"]["python"]
    assert result["command"].startswith("python -m bench run")

    fanout = result["benchmarks"]["fanout"]
    assert set(fanout["servers"]) == {"raw", "bare", "connectnow"}  # node is off in the tiny profile
    for size in ("5", "20"):
        row = fanout["summary"][size]
        assert row["raw"]["vsRaw"] in (1.0, None)  # None only if the raw baseline failed its first step
        assert isinstance(row["connectnow"]["deliveriesPerS"], int | float)  # 0 when even the first step was slow
        assert {"vsRaw", "vsBare", "cpuUsPerDelivery"} <= set(row["connectnow"])
        first = fanout["servers"]["connectnow"]["rampBySize"][size]["steps"][0]
        # Correctness, not speed: every message reached every member of its room, every send was acknowledged.
        assert first["lost"] == 0 and first["ackErrors"] == 0 and first["deliveries"] == first["expectedDeliveries"]
        _latency_shape(first["latency"])
    for key in ("raw", "bare", "connectnow"):
        [point] = fanout["servers"][key]["latency"]
        assert point["loadFraction"] == 0.5
        # The load is half of the raw baseline's ceiling; on a loaded machine that may be 0 messages.
        _latency_shape(point["latency"], empty=point["deliveries"] == 0)

    persist = result["benchmarks"]["persist"]["summary"]
    assert persist["connectnowMessagesPerS"] > 0 and persist["rawSqliteInsertsPerS"] > 0
    # The recorded ratio is rounded to three decimals (bench/stats.py `ratio`): a small ratio such as 0.0314
    # is stored as 0.031, so the check is "equal up to that rounding", not a relative tolerance.
    exact = persist["connectnowMessagesPerS"] / persist["rawSqliteInsertsPerS"]
    assert persist["ratioToRawInserts"] == pytest.approx(exact, abs=0.0005 + 1e-9)
    # Issue 11's figures: CPU per stored message, the half-rate step's acknowledgements, the loop lag read from
    # the server's own /metrics (present whenever /metrics answered, whatever the number of samples).
    cn = result["benchmarks"]["persist"]["connectnow"]
    assert cn["cpuUsPerStoredMessage"] > 0 and cn["loopLag"] is not None and cn["loopLag"]["samples"] >= 0
    half = cn["halfRate"]
    assert half["rateMsgsPerS"] == pytest.approx(cn["messagesPerS"] / 2, abs=0.1)
    assert half["ackErrors"] == 0 and half["loopLag"] is not None
    assert {"halfRateAckP99Ms", "halfRateCpuUsPerStoredMessage", "loopLagP99AtMaxAtMostMs"} <= set(persist)


@pytest.mark.e2e
@pytest.mark.slow
def test_tiny_cpu_run_reports_a_slope_per_server_and_size(tmp_path: Path) -> None:
    """Issue 13's fixed-load CPU benchmark: every server, both loads, no delivery lost at these small loads."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--profile", "tiny", "--only", "cpu", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = tmp_path.glob("bench-tiny-*.json")
    cpu = json.loads(path.read_text())["benchmarks"]["cpu"]
    assert set(cpu["servers"]) == {"raw", "bare", "connectnow"}
    for size in ("5", "20"):
        assert {"cpuUsPerDelivery", "connectnowVsRaw", "connectnowCapacityVsNode"} <= set(cpu["summary"][size])
        for server in cpu["servers"].values():
            steps = server[size]["steps"]
            assert len(steps) == 2 and all(step["lost"] == 0 for step in steps)
            assert "marginalCpuUsPerDelivery" in server[size]
