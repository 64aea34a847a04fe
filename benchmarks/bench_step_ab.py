"""A/B: the SGD step's share of the float32 matmul peak for two checkouts, in alternating rounds.

Each round runs, for every source tree given, one subprocess that times the bare step of a
stacked sweep (d = 450, batch 100, widths 30..450; NN shared a, NN per-neuron a, NT, RF) and a
1536³ product in interleaved repetitions, and prints the share of the peak (step flops / step time
/ peak measured in the same process). Rounds alternate the trees, so that a changing machine load
hits both alike; the summary gives the median share per tree and the median of the per-round
ratios new / old, and the number of torch operations one step runs (from the profiler: equal
counts mean the same work, whatever the load).

Run:  python benchmarks/bench_step_ab.py OLD_SRC NEW_SRC [--rounds 5] [--d 450]
(each *_SRC is a ``src`` directory holding a ``lazytrain`` package).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = r'''
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from lazytrain import QuadraticTarget, random_weights
from lazytrain.activations import get_activation
try:
    from lazytrain.train.models import make_model
except ImportError:
    from lazytrain.train.networks import Networks as make_model
d, batch = int(sys.argv[1]), 100
task = QuadraticTarget.paper(d=d)
widths = list(range(30, d + 1, 30))
act = get_activation("quadratic")
weights = [random_weights(d, n, seed=0) for n in widths]
a0 = [np.ones(n) for n in widths]
a, b = torch.randn(1536, 1536), torch.randn(1536, 1536)
out = torch.empty(1536, 1536)
peak_flops = 2 * 1536**3

def best(fn, budget=0.25):
    fn()
    t = time.perf_counter(); fn(); one = time.perf_counter() - t
    number = max(1, int(budget / max(one, 1e-6)))
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number

res, ops = {}, {}
cases = {"nn-shared": ("nn", {}, 2), "nn-per-neuron": ("nn", {"shared_a": False}, 2),
         "nt": ("nt", {}, 3), "rf": ("rf", {}, 1)}
for label, (regime, kw, products) in cases.items():
    nets = make_model(regime, act, weights, a0, [1e-3] * len(widths), offset_mult=10.0, **kw)
    if getattr(nets, "a", None) is not None:
        nets.a += 1.0
    gen = torch.Generator().manual_seed(0)
    batches = [task.sample_torch(batch, gen, "cpu", torch.float32) for _ in range(8)]
    state = {"i": 0}

    def step():
        x, y = batches[state["i"] % 8]
        state["i"] += 1
        nets.step(x, y, 1e-9)

    flops = 2 * products * batch * d * sum(widths)
    shares = []
    for _ in range(3):
        t_peak = best(lambda: torch.mm(a, b, out=out))
        t_step = best(step)
        shares.append(flops / t_step / (peak_flops / t_peak))
    res[label] = float(np.median(shares))
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops[label] = sum(e.name.startswith("aten::") for e in prof.events())
print(json.dumps({"share": res, "ops": ops}))
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("srcs", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--d", type=int, default=450)
    args = parser.parse_args()
    shares = {src: [] for src in args.srcs}
    ops = {}
    for r in range(args.rounds):
        order = args.srcs if r % 2 == 0 else args.srcs[::-1]
        for src in order:
            env = dict(os.environ, PYTHONPATH=os.path.abspath(src), OMP_NUM_THREADS="1")
            out = subprocess.run([sys.executable, "-c", CHILD, str(args.d)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            got = json.loads(out.strip().splitlines()[-1])
            shares[src].append(got["share"])
            ops[src] = got["ops"]
            print(f"round {r} {src}: " + ", ".join(f"{k} {v:.1%}" for k, v in shares[src][-1].items()),
                  flush=True)
    print("\ntorch (aten) operations per step, a count the load cannot change:")
    for src in args.srcs:
        print(f"  {src}: " + ", ".join(f"{k} {v}" for k, v in ops[src].items()))
    print("\nmedian share of the matmul peak (each measured against the peak in its own process):")
    base = args.srcs[0]
    for src in args.srcs:
        keys = shares[src][0].keys()
        line = ", ".join(f"{k} {np.median([s[k] for s in shares[src]]):.1%}" for k in keys)
        print(f"  {src}: {line}")
        if src != base:
            ratios = ", ".join(
                f"{k} {np.median([n[k] / o[k] for n, o in zip(shares[src], shares[base])]):.3f}" for k in keys)
            print(f"  median per-round ratio {src} / {base}: {ratios}")


if __name__ == "__main__":
    main()
