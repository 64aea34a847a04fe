"""Exact NT on Figure 4's staircase target up to N·d = d³ parameters (matrix-free CG).

For d = 40 (Figure 4's left panel) and d = 60, times the exact NT solve (and the RF solve) at
N = d, N·d ≈ C(d+2, 3) (the hardest point: the degree-3 step, where the system is nearly
singular), N·d = d³/2 and N·d = d³, with the CG iterations and the time spent in the Kronecker
preconditioner's N×N eigendecomposition. Ratios to one N×N ``eigh`` timed in the same process.
Run: OMP_NUM_THREADS=1 python benchmarks/bench_staircase.py [d ...]
"""

from __future__ import annotations

import sys
import time
from math import comb

import numpy as np

from lazytrain.exact import exact_risk
from lazytrain.experiments.presets import preset
from lazytrain.weights import random_weights


def main(dims=(40, 60)):
    base = preset("fig4")
    for d in dims:
        task = base.with_updates(task={**base.task.model_dump(mode="json"), "d": d}).task.build()
        for N in (d, round(comb(d + 2, 3) / d), d * d // 2, d * d):
            W = random_weights(d, N, seed=0)
            info = {}
            t0 = time.perf_counter()
            nt = exact_risk(task, "nt", W, "hermite23", info=info)
            t_nt = time.perf_counter() - t0
            t0 = time.perf_counter()
            exact_risk(task, "rf", W, "hermite23")
            t_rf = time.perf_counter() - t0
            A = np.random.default_rng(0).standard_normal((N, N))
            t0 = time.perf_counter()
            np.linalg.eigh(A + A.T)
            t_eigh = time.perf_counter() - t0
            print(f"d={d:3d} N={N:5d} N·d={N * d:7d} ({N * d / d**3:.2f} d³): NT {t_nt:7.2f} s, "
                  f"{info['iterations']:4d} CG its, risk {nt:.4f}; RF {t_rf:6.2f} s; "
                  f"NT / eigh(N×N) = {t_nt / t_eigh:6.1f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or (40, 60))
