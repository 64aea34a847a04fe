"""fit: the three NT solvers side by side, and a fit against exact_risk, as ratios in one run.

NT with ReLU on the paper's target at d = 30: (a) n = 2000 samples, N = 20 (P = 600 < n): dense SVD
against the n × n dual and matrix-free CG, all with ridge 1e-3 (the same answer, checked); (b) the
over-parametrised case n = 600, N = 200 (P = 6000 > n); (c) the cost of `fit` relative to
`exact_risk` for the same W (the population moments are shared work); (d) Figure 6's oracle-tuned
kernel ridge, ReLU kernel ridge on n = 160 samples (d = 20) over a grid of 7 ridges: fit_ridges (one
Monte Carlo test kernel matrix per batch for every ridge) against one fit per ridge (each ridge's
own test kernel matrices, the cost before the matrix was shared); the risks must be identical. Run:
OMP_NUM_THREADS=1 python benchmarks/bench_fit.py
"""

from __future__ import annotations


import lazytrain as lt
from lazytrain.fitting import fit_ridges
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

    kernel_ridges(task=lt.QuadraticTarget.paper(d=20), n=160)


def kernel_ridges(task, n, ridges=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)):
    """(d): the shared Monte Carlo test sample of kernel ridge against one fit per ridge."""
    for regime in ("rf_kernel", "nt_kernel"):
        t_path, path = best_of(lambda regime=regime: fit_ridges(task, regime, None, n, ridges, "relu", seed=0))
        t_each, each = best_of(lambda regime=regime: [lt.fit(task, regime, None, n, lam, "relu", seed=0)
                                                      for lam in ridges])
        same = all(a.risk == b.risk and a.info["risk_se"] == b.info["risk_se"] for a, b in zip(path, each))
        used = [r.info["test_samples"] for r in path]
        print(f"{regime} relu d={task.d} n={n}, {len(ridges)} ridges: fit_ridges / one fit per ridge "
              f"{t_path / t_each:.2f} (fit_ridges {t_path:.2f} s; test samples {min(used)}-{max(used)} "
              f"per ridge); risks identical: {same}")
        if not same:
            raise SystemExit("fit_ridges and fit disagree on a kernel ridge's Monte Carlo risk")


if __name__ == "__main__":
    main()
