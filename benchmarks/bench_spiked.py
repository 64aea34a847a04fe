"""Exact NT for spiked covariates at d = 1024 (issue 20): one Gram product with Σ as a vector
(the diagonal Component) against the same Σ as a dense d×d matrix, and one full ReLU NT solve.

    python benchmarks/bench_spiked.py [N ...]      (default N = 512 1024)

Ratios are taken in the same run (the machine is shared: see docs/performance.md).
"""

import resource
import sys
import time

import numpy as np
from _timing import best_of

from lazytrain import QuadraticTarget, SpikedCovariates, exact_risk, get_activation, random_weights
from lazytrain.exact.general import NTGram
from lazytrain.tasks import Component


def main(widths):
    d, s, kappa = 1024, 16, 0.5
    task = SpikedCovariates(d, s, kappa, QuadraticTarget.paper(d=s))
    relu = get_activation("relu")
    for n in widths:
        W = random_weights(d, n, seed=0)
        v = np.random.default_rng(0).standard_normal(n * d)
        diag = NTGram(relu, W, (Component(1.0, task.variances),))
        dense = NTGram(relu, W, (Component(1.0, np.diag(task.variances)),))
        t_diag, t_dense = best_of(lambda g=diag, v=v: g.matvec(v)), best_of(lambda g=dense, v=v: g.matvec(v))
        print(f"N = {n}: one NT Gram product {t_diag:.3f} s (diagonal Σ), {t_dense:.3f} s (dense Σ): "
              f"{t_dense / t_diag:.2f}x", flush=True)
        info = {}
        start, cpu = time.perf_counter(), time.process_time()
        risk = exact_risk(task, "nt", W, "relu", info=info)
        print(f"  ReLU NT solve: risk {risk:.4f}, {info['iterations']} CG iterations, "
              f"{time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [512, 1024])
