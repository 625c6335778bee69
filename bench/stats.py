"""Percentiles and ratios (no numpy: the lists are at most a few million floats)."""

from __future__ import annotations

import math
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(values: list[float]) -> dict[str, float]:
    """p50/p99/p99.9/max in milliseconds."""
    ordered = sorted(values)
    return {
        "p50Ms": round(percentile(ordered, 50) * 1000, 2),
        "p99Ms": round(percentile(ordered, 99) * 1000, 2),
        "p999Ms": round(percentile(ordered, 99.9) * 1000, 2),
        "maxMs": round((ordered[-1] if ordered else math.nan) * 1000, 2),
    }


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0 or math.isnan(value) or math.isnan(baseline):
        return None
    return round(value / baseline, 3)


def clean(obj: Any) -> Any:
    """JSON-safe: NaN becomes None."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj
