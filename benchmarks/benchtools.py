"""Shared helpers of the benchmark scripts (run from the repository root: ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import time

import numpy as np


def median_time(fn, repeat: int):
    """(median wall time of ``repeat`` calls of ``fn`` in seconds, the last call's result)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out
