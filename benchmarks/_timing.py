"""Timing helper shared by the benchmark scripts (imported as a sibling module)."""

from __future__ import annotations

import time


def best_of(fn, repeats=3):
    """Shortest wall time of ``repeats`` calls of ``fn`` (the least disturbed by a shared machine)."""
    return timed_best_of(fn, repeats)[0]


def timed_best_of(fn, repeats=3):
    """(shortest wall time, result of the last call) over ``repeats`` calls of ``fn``."""
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out
