"""bf16 against float32 on the same seeds at d = 450 (the table of docs/reproduction.md, issue 19).

Trains one stacked sweep per (regime, dtype) with the default settings (10⁵ steps of batch 100:
the paper's 10⁷ samples per point) and writes one JSON line per width: N, dtype, the SGD risk
(exact, float64, from the trained master weights), the reference (Theorem 3 for NN, the exact
risk of the class at the run's own W for RF and NT), the wall time and the learning curve.
Run the dtypes as separate processes to use both cores; the samples are the same.

Run:  python benchmarks/bf16_accuracy.py nn 30,150,300,450 bfloat16 [steps]  > out.jsonl
"""

import json
import sys
import time

import torch

from lazytrain import QuadraticTarget, exact_risk, random_weights, theory_risk, train_sweep

if __name__ == "__main__":
    torch.set_num_threads(1)
    regime, widths, dtype = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], sys.argv[3]
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else None
    task = QuadraticTarget.paper()
    t0 = time.perf_counter()
    results = train_sweep(task, regime, widths, seed=0, dtype=dtype, steps=steps)
    for n, r in zip(widths, results):
        ref = (theory_risk(task, "nn", n) if regime == "nn"
               else exact_risk(task, regime, random_weights(task.d, n, seed=0)))
        print(json.dumps({"regime": regime, "N": n, "dtype": dtype, "risk": r.risk, "reference": ref,
                          "steps": r.settings["steps"], "wall_time": r.wall_time,
                          "curve_samples": r.history.samples.tolist(),
                          "curve_risk": r.history.risk.tolist()}), flush=True)
    print(json.dumps({"total_wall_time": time.perf_counter() - t0}), flush=True)
