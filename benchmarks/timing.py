"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: tracing / compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(fa: Callable[[], object], fb: Callable[[], object], repeats: int):
    """Median seconds of two functions timed in alternation (ABBA...), after a warm-up.

    Alternating spreads slow phases of a shared machine over both sides instead of
    charging them to whichever ran second.
    """
    fa(), fb()
    ta, tb = [], []
    for i in range(repeats):
        order = ((fa, ta), (fb, tb)) if i % 2 == 0 else ((fb, tb), (fa, ta))
        for fn, times in order:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)
