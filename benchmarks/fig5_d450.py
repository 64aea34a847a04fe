"""Figure 5 at the paper's scale in one stacked run: every α of the preset on one sample stream.

``lazytrain reproduce fig5`` trains one point per α through the result store (one run each);
this script trains the same networks side by side with ``train_sweep`` (one product serves all
α; each network equals its single run up to float rounding) and prints the table of
docs/reproduction.md, Figure 5. Run with ``nice``: about 10⁵ steps of ΣN = 8·150 at d = 450.

Run:  python benchmarks/fig5_d450.py [--d 450] [--steps 100000] [--out fig5_d450.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from lazytrain import QuadraticTarget, exact_risk, random_weights, theory_risk, train_sweep
from lazytrain.experiments.presets import FIG5_ALPHAS


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=450)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="fig5_d450.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    task = QuadraticTarget.paper(d=args.d)
    n = args.d // 3
    alphas = list(FIG5_ALPHAS)
    start = time.perf_counter()
    results = train_sweep(task, "nn", [n] * len(alphas), alpha=alphas, a0="ones", steps=args.steps,
                          lr=args.lr, seed=0)
    wall = time.perf_counter() - start
    lazy = exact_risk(task, "nt", random_weights(args.d, n, seed=0), second_layer=True)
    optimum = theory_risk(task, "nn", n)
    rows = [{"alpha": a, "risk": r.risk, "weight_change": r.weight_change, "steps": r.settings["steps"],
             "lr": r.settings["lr"]} for a, r in zip(alphas, results)]
    print(f"d = {args.d}, N = {n}: exact NT + second layer {lazy:.4f}, NN optimum {optimum:.4f}; "
          f"{wall:.0f} s")
    for row in rows:
        print(f"α = {row['alpha']:g}: risk {row['risk']:.4f}, weight change {row['weight_change']:.4g}")
    with open(args.out, "w") as fh:
        json.dump({"d": args.d, "n": n, "lazy_limit": lazy, "nn_optimum": optimum, "wall_s": wall,
                   "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
