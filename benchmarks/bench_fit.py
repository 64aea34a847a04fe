"""fit: the three NT solvers side by side, and a fit against exact_risk, as ratios in one run.

NT with ReLU on the paper's target at d = 30: (a) n = 2000 samples, N = 20 (P = 600 < n): dense SVD
against the n × n dual and matrix-free CG, all with ridge 1e-3 (the same answer, checked); (b) the
over-parametrised case n = 600, N = 200 (P = 6000 > n); (c) the cost of `fit` relative to
`exact_risk` for the same W (the population moments are shared work). Run:
OMP_NUM_THREADS=1 python benchmarks/bench_fit.py
"""

from __future__ import annotations


import lazytrain as lt
from _timing import timed_best_of as best_of


def main():
    task = lt.QuadraticTarget.paper(d=30)
    for n, N in ((2000, 20), (600, 200)):
        W = lt.random_weights(30, N, seed=0)
        res = {}
        for method in ("dense", "dual", "cg"):
            res[method] = best_of(lambda W=W, n=n, method=method: lt.fit(
                task, "nt", W, n, ridge=1e-3, activation="relu", seed=1, method=method, maxiter=50_000))
        ref = res["dense"][0]
        risks = {m: r.risk for m, (_, r) in res.items()}
        spread = max(risks.values()) - min(risks.values())
        print(f"NT relu d=30 N={N} (P={N * 30}) n={n}: dense {ref:.3f} s; dual/dense "
              f"{res['dual'][0] / ref:.2f}; cg/dense {res['cg'][0] / ref:.2f} "
              f"({res['cg'][1].info['iterations']} iterations); risks agree to {spread:.1e}")
        t_exact, _ = best_of(lambda W=W: lt.exact_risk(task, "nt", W, activation="relu"))
        t_auto, auto = best_of(lambda W=W, n=n: lt.fit(task, "nt", W, n, ridge=1e-3, activation="relu", seed=1))
        print(f"   fit (auto picks {auto.info['method']}) / exact_risk: {t_auto / t_exact:.2f} "
              f"(exact_risk {t_exact:.3f} s)")


if __name__ == "__main__":
    main()
