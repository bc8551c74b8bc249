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


def interleaved_medians(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median seconds of each function, timed in rotation (ABC, BCA, CAB, ...) after a
    warm-up of each.

    Rotating spreads slow phases of a shared machine over every function instead of
    charging them to whichever ran last.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for i in range(repeats):
        for j in range(len(fns)):
            k = (i + j) % len(fns)
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def paired_medians(fa: Callable[[], object], fb: Callable[[], object], repeats: int):
    """Median seconds of two functions timed in alternation (ABBA...), after a warm-up."""
    ta, tb = interleaved_medians([fa, fb], repeats)
    return ta, tb
