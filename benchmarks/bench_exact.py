"""Exact population risks for the quadratic target at the paper's scale.

Measures the time of all 15 points of the paper's grid (N = 30..450, d = 450, RF + NT + NN, one
draw of W per N) as a ratio to one dense 450×450 symmetric eigendecomposition timed in the same
process, and as absolute seconds for orientation. Run: python benchmarks/bench_exact.py
"""

from __future__ import annotations

import time

import numpy as np

import lazytrain as lt


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    task = lt.QuadraticTarget.paper()
    draws = {N: lt.random_weights(450, N, seed=0) for N in range(30, 451, 30)}

    def grid():
        for W in draws.values():
            for regime in ("rf", "nt", "nn"):
                lt.exact_risk(task, regime, W)

    A = np.random.default_rng(0).standard_normal((450, 450))
    A = A + A.T
    ref = best_of(lambda: np.linalg.eigh(A))
    t = best_of(grid)
    print(f"15-point grid (RF+NT+NN, d=450): {t * 1e3:.1f} ms")
    print(f"one 450x450 eigh:                {ref * 1e3:.1f} ms")
    print(f"ratio grid / eigh:               {t / ref:.1f}")


if __name__ == "__main__":
    main()
