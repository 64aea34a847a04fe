"""Gaussian moments of any activation: the cost of the error-estimated generic path.

For the NT Gram of N = 450 neurons at d = 450 (pair moments (1,1), (2,2), (3,1) and the 1-D
moments), the time of the closed forms (ReLU), of the generic quadrature of smooth σ (GELU, tanh),
of a numpy ReLU with its kink declared and with its kink detected, and of GELU at weight norm 10³
(soft kink resolved by graded panels), as ratios to the ReLU closed forms measured in the same
process. Run: python benchmarks/bench_moments.py (set OMP_NUM_THREADS to fix the BLAS threads).
"""

from __future__ import annotations


import numpy as np

import lazytrain as lt
from _timing import best_of


def gram_moments(act, W):
    cov = W @ W.T
    act.pair_moments(cov, orders=[(1, 1), (2, 2), (3, 1)], return_error=True)
    act.moments(np.diag(cov), return_error=True)


def main():
    W = lt.random_weights(450, 450, seed=0)
    cases = {
        "relu (closed forms)": (lt.get_activation("relu"), W),
        "gelu": (lt.get_activation("gelu"), W),
        "tanh": (lt.get_activation("tanh"), W),
        "numpy relu, kinks=[0]": (lt.Activation.from_function(lambda u: np.maximum(u, 0), kinks=[0.0]), W),
        "numpy relu, detected": (lt.Activation.from_function(lambda u: np.maximum(u, 0)), W),
        "gelu at ‖w‖ = 1e3": (lt.get_activation("gelu"), 1e3 * W),
    }
    ref = best_of(lambda: gram_moments(*cases["relu (closed forms)"]))
    print(f"NT Gram moments, N = d = 450; ReLU closed forms: {ref * 1e3:.1f} ms")
    for name, (act, w) in cases.items():
        t = best_of(lambda act=act, w=w: gram_moments(act, w))
        print(f"  {name:24s} {t:8.3f} s   ratio {t / ref:8.1f}")


if __name__ == "__main__":
    main()
