"""Exact population risks for the quadratic target and the Gaussian mixture at the paper's scale.

Measures the time of all 15 points of the paper's grid (N = 30..450, d = 450, RF + NT + NN, one
draw of W per N) for each task as a ratio to one dense 450×450 symmetric eigendecomposition timed in
the same process, and as absolute seconds for orientation; for the mixture also the Bayes risks and
the 0-1 errors of the 45 fitted predictors. Run: python benchmarks/bench_exact.py (set
OMP_NUM_THREADS to fix the BLAS threads).
"""

from __future__ import annotations


import numpy as np

import lazytrain as lt
from _timing import best_of


def main():
    draws = {N: lt.random_weights(450, N, seed=0) for N in range(30, 451, 30)}

    def grid(task):
        for W in draws.values():
            for regime in ("rf", "nt", "nn"):
                lt.exact_risk(task, regime, W)

    A = np.random.default_rng(0).standard_normal((450, 450))
    A = A + A.T
    ref = best_of(lambda: np.linalg.eigh(A), repeats=5)
    print(f"one 450x450 eigh:                {ref * 1e3:.1f} ms")
    for task in (lt.QuadraticTarget.paper(), lt.GaussianMixture.paper()):
        t = best_of(lambda task=task: grid(task), repeats=3)
        print(f"{task.kind:>9}: 15-point grid (RF+NT+NN, d=450): {t * 1e3:.1f} ms, ratio to eigh {t / ref:.1f}")

    from lazytrain.exact.mixture import best_predictor

    mixture = lt.GaussianMixture.paper()
    fitted = [best_predictor(mixture, r, W) for W in draws.values() for r in ("rf", "nt", "nn")]
    t = best_of(lambda: [mixture.predictor_error(M, c) for M, c in fitted], repeats=1)
    print(f"  mixture: 0-1 errors of the 45 fitted predictors: {t * 1e3:.1f} ms, ratio to eigh {t / ref:.1f}")
    t = best_of(lambda: [lt.bayes_risk(mixture, k) for k in ("square", "error")], repeats=3)
    print(f"  mixture: both Bayes risks: {t * 1e3:.1f} ms, ratio to eigh {t / ref:.1f}")


if __name__ == "__main__":
    main()
