"""The d = 450 SGD sweep of docs/reproduction.md: NN with the default settings, N = 30..450.

Trains the given widths stacked on one sample stream (seed 0) and writes one
JSON line per width: N, SGD risk, Theorem 3, samples used, wall time, and the
learning curve. Split the widths over processes to use several cores; every
process sees the same samples, so the split does not change the numbers.

Run:  python benchmarks/sweep_d450.py 30,60,...  > results.jsonl
"""

import json
import sys
import time

import torch

from lazytrain import QuadraticTarget, theory_risk, train_sweep

if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    widths = [int(x) for x in sys.argv[1].split(",")]
    task = QuadraticTarget.paper()
    t0 = time.perf_counter()
    results = train_sweep(task, "nn", widths, seed=0)
    for n, r in zip(widths, results):
        print(json.dumps({"N": n, "risk": r.risk, "theory": theory_risk(task, "nn", n),
                          "samples": r.samples, "wall_time": r.wall_time, "widths": widths,
                          "settings": {k: v for k, v in r.settings.items() if k != "schedule"},
                          "curve_samples": r.history.samples.tolist(),
                          "curve_risk": r.history.risk.tolist()}), flush=True)
    print(json.dumps({"total_wall_time": time.perf_counter() - t0}), flush=True)
