"""The exact NT risk with ReLU at the paper's scale, d = N = 450 (N·d = 202,500 parameters).

The dense NT Gram would have 202,500² entries (328 GB in float64); the solver never forms it:
conjugate gradients on the matrix-free operator of lazytrain.exact.general, O(N²d) per product.
Reports the solve time, CG iterations and final relative residual, with and without the
block-Jacobi preconditioner and with the second-layer term, and as a ratio to one dense 450×450
symmetric eigendecomposition and to one operator product timed in the same process.
Run: python benchmarks/bench_nt_relu.py [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys

from _timing import timed_best_of as best_of  # a sibling module; it does not load numpy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (set before numpy loads)")
    parser.add_argument("--d", type=int, default=450)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    import lazytrain as lt
    from lazytrain.activations import get_activation
    from lazytrain.exact.general import NTGram, nt_explained
    
    d = args.d
    task = lt.QuadraticTarget.paper(d=d, seed=100)
    W = lt.random_weights(d, d, seed=0)
    relu = get_activation("relu")

    A = np.random.default_rng(0).standard_normal((450, 450))
    t_eigh, _ = best_of(lambda: np.linalg.eigh(A + A.T))
    K = NTGram(relu, W)
    v = np.random.default_rng(1).standard_normal(K.shape[0])
    t_matvec, _ = best_of(lambda: K.matvec(v), repeats=10)
    rf_v, nt_v = task.cross_moments(W, relu)

    print(f"d = N = {d}, ReLU, quadratic target (paper, seed 100), W seed 0, {args.threads} thread(s)")
    print(f"one dense 450x450 eigh: {t_eigh * 1e3:.0f} ms;  one NT operator product: {t_matvec * 1e3:.1f} ms")
    print(f"{'variant':34s} {'R/R0':>9s} {'iters':>6s} {'residual':>9s} {'seconds':>8s} {'/eigh':>6s} {'/product':>8s}")
    variants = [
        ("NT, Kronecker-preconditioned CG", dict()),
        ("NT, plain CG", dict(precondition=False)),
        ("NT + second layer", dict(second_layer=True)),
    ]
    for label, kw in variants:
        t, sol = best_of(lambda kw=kw: nt_explained(relu, W, nt_v, rf_v, method="cg", tol=1e-10,
                                              target_var=task.r0, **kw))
        risk = 1 - sol.explained / task.r0
        print(f"{label:34s} {risk:9.6f} {sol.iterations:6d} {sol.relative_residual:9.1e} {t:8.2f} "
              f"{t / t_eigh:6.1f} {t / t_matvec:8.0f}")
    t, r = best_of(lambda: lt.exact_risk(task, "rf", W, activation="relu"))
    print(f"{'RF (N x N Gram, Cholesky)':34s} {r:9.6f} {'-':>6s} {'-':>9s} {t:8.2f} {t / t_eigh:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
