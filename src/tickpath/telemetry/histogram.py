"""Latency percentiles from HdrHistogram, fed in bulk from preallocated sample arrays."""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def histogram_of(samples_ns: np.ndarray, highest_ns: int = 10_000_000_000) -> HdrHistogram:
    """An HdrHistogram (1 ns .. ``highest_ns``, 3 significant digits) of the samples."""
    h = HdrHistogram(1, highest_ns, 3)
    values, counts = np.unique(np.clip(samples_ns, 1, highest_ns), return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        h.record_value(v, c)
    return h


def summary_us(samples_ns: np.ndarray) -> dict[str, float]:
    """p50, p90, p99, p99.9 and max in microseconds, plus the sample count."""
    if samples_ns.size == 0:
        return {"count": 0}
    h = histogram_of(samples_ns)
    out: dict[str, float] = {"count": int(samples_ns.size)}
    for p in PERCENTILES:
        key = f"p{p:g}".replace(".", "")
        out[f"{key}_us"] = h.get_value_at_percentile(p) / 1000.0
    out["max_us"] = h.get_max_value() / 1000.0
    return out
