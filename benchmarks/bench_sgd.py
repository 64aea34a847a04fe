"""How close does the SGD step run to this machine's float32 matmul peak?

Everything is measured in one process, so the machine's load cancels in the
ratios (the machines are shared). Reported:

* the float32 matmul peak (a large square product) in GFLOP/s;
* per configuration, the step time, its matmul GFLOP/s (the step's matrix
  products counted as 2·m·n·k flops each: 4·B·d·ΣN for NN) and the share of
  the peak; the breakdown: sampling alone, the two matrix products alone,
  and the rest (elementwise work and bookkeeping);
* the same widths trained one by one vs stacked on one sample stream;
* a plain torch autograd + torch.optim.SGD step for comparison;
* the whole training loop (train_sweep, with its history records) per step;
* mixed precision (``dtype='bfloat16'``, or ``--bf16`` alone): the bf16 step against the float32
  step of the same widths in the same rounds (the speed-up), its share of the bf16 matmul peak
  measured in the same round (a square bf16 product, same thread count), and its breakdown:
  sampling, the two bf16 products, the master-weight update with the refresh of the bf16 copy
  (two passes over the d×ΣN weights), and the rest (elementwise work, bookkeeping).

Run:  python benchmarks/bench_sgd.py [--threads 1] [--d 450] [--batch 100] [--bf16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lazytrain import QuadraticTarget, random_weights, train_sweep
from lazytrain.activations import get_activation
from lazytrain.train.models import make_model


def best_time(fn, repeat=5, number=None, budget=0.4):
    """Best per-call time of fn over `repeat` rounds (the least-disturbed one)."""
    fn()
    if number is None:
        t = time.perf_counter()
        fn()
        number = max(1, int(budget / max(time.perf_counter() - t, 1e-6)))
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best


def matmul_peak_fn(size=1536, dtype=torch.float32):
    """(callable doing one size³ product in ``dtype``, its flop count)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    out = torch.empty(size, size, dtype=dtype)
    return (lambda: torch.mm(a, b, out=out)), 2 * size**3


def make_nets(task, widths, regime="nn", matmul_dtype=None):
    act = get_activation("quadratic")
    weights = [random_weights(task.d, n, seed=0) for n in widths]
    a0 = [np.ones(n) for n in widths]
    nets = make_model(regime, act, weights, a0, [1e-3] * len(widths), offset_mult=10.0,
                      matmul_dtype=matmul_dtype)
    nets.a += 1.0  # a = 1: the step then does all its work
    return nets


def paired(fns, rounds=7):
    """Time several callables in interleaved rounds; per-round times, so that ratios taken
    within a round see the same machine load. Returns an array (rounds, len(fns))."""
    out = np.empty((rounds, len(fns)))
    for r in range(rounds):
        for j, fn in enumerate(fns):
            out[r, j] = best_time(fn, repeat=1, budget=0.25)
    return out


def bench_config(task, widths, batch, label, peak_fn):
    """Step time and its share of the matmul peak measured in the same rounds (median of ratios)."""
    gen = torch.Generator().manual_seed(0)
    nets = make_nets(task, widths)
    n = sum(widths)
    flops = 4 * batch * task.d * n
    x, y = task.sample_torch(batch, gen, "cpu", torch.float32)

    def step():
        xs, ys = task.sample_torch(batch, gen, "cpu", torch.float32)
        nets.step(xs, ys, 1e-9)

    Wt = nets.Wt.clone()  # the layout of the step (W transposed, (d, n))
    H = torch.empty(batch, n)
    Gt = torch.empty(task.d, n)

    def mats():
        torch.mm(x, Wt, out=H)
        torch.mm(x.t(), H, out=Gt)

    t = paired([peak_fn[0], step, lambda: task.sample_torch(batch, gen, "cpu", torch.float32), mats])
    peak = peak_fn[1] / t[:, 0]
    share = np.median(flops / t[:, 1] / peak)
    t_step, t_sample, t_mm = np.median(t[:, 1]), np.median(t[:, 2]), np.median(t[:, 3])
    mm_share = np.median(flops / t[:, 3] / peak)
    print(f"{label:<34} step {t_step * 1e3:8.3f} ms  share of peak {share:6.1%}   "
          f"[sampling {t_sample / t_step:5.1%}, the two products alone {t_mm / t_step:5.1%} "
          f"(they run at {mm_share:5.1%} of peak), rest {max(0.0, 1 - (t_sample + t_mm) / t_step):5.1%}]")
    return t_step, share


def bench_bf16(task, widths, batch, label, rounds=7):
    """The bf16 step against the float32 step and the bf16 peak, in interleaved rounds.

    Returns (speed-up over float32, share of the bf16 peak), medians over the rounds of the
    ratios taken within a round.
    """
    bf = torch.bfloat16
    gen = torch.Generator().manual_seed(0)
    n, d = sum(widths), task.d
    flops = 4 * batch * d * n
    f32, mixed = make_nets(task, widths), make_nets(task, widths, matmul_dtype=bf)
    peak32, peak16 = matmul_peak_fn(), matmul_peak_fn(dtype=bf)

    def stepper(nets):
        def step():
            xs, ys = task.sample_torch(batch, gen, "cpu", torch.float32)
            nets.step(xs, ys, 1e-9)
        return step

    x, dH = task.sample_torch(batch, gen, "cpu", torch.float32)[0].to(bf), torch.randn(batch, n).to(bf)
    low, master = mixed.low, mixed.Wt

    def products():                                  # the forward and the update product, in bf16
        x @ low
        x.t() @ dH

    upd = (x.t() @ dH).float()

    def master_update():                             # W += update (float32), bf16 copy refreshed
        master.add_(upd, alpha=-1e-30)
        low.copy_(master)

    t = paired([peak32[0], peak16[0], stepper(f32), stepper(mixed),
                lambda: task.sample_torch(batch, gen, "cpu", torch.float32), products, master_update],
               rounds=rounds)
    speedup = np.median(t[:, 2] / t[:, 3])
    share = np.median(flops / t[:, 3] / (peak16[1] / t[:, 1]))
    share32 = np.median(flops / t[:, 2] / (peak32[1] / t[:, 0]))
    peak_ratio = np.median(t[:, 0] / t[:, 1])
    ts = np.median(t[:, 3])
    parts = [np.median(t[:, j] / t[:, 3]) for j in (4, 5, 6)]
    print(f"{label:<34} bf16 step {ts * 1e3:8.3f} ms = {speedup:4.2f}x faster than float32 "
          f"({np.median(t[:, 2]) * 1e3:.3f} ms); share of the bf16 peak {share:6.1%} "
          f"(float32 step: {share32:5.1%} of the float32 peak; bf16 peak / float32 peak {peak_ratio:4.2f}x)\n"
          f"{'':<34} [sampling {parts[0]:5.1%}, the two bf16 products alone {parts[1]:5.1%}, "
          f"master update + bf16 copy {parts[2]:5.1%}, rest {max(0.0, 1 - sum(parts)):5.1%}]")
    return speedup, share


def bench_autograd(task, width, batch, peak_fn):
    """The textbook loop: nn.Parameter + autograd + torch.optim.SGD (param groups for the multipliers)."""
    d = task.d
    gen = torch.Generator().manual_seed(0)
    W = torch.nn.Parameter(torch.as_tensor(random_weights(d, width, seed=0), dtype=torch.float32))
    a = torch.nn.Parameter(torch.ones(()))
    c = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.SGD([{"params": [W], "lr": 1e-9 * width}, {"params": [a], "lr": 1e-9},
                           {"params": [c], "lr": 1e-8}])

    def step():
        x, y = task.sample_torch(batch, gen, "cpu", torch.float32)
        f = c + a / width * ((x @ W.t()) ** 2).sum(dim=1)
        loss = ((y - f) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t = paired([peak_fn[0], step])
    share = np.median(4 * batch * d * width / t[:, 1] / (peak_fn[1] / t[:, 0]))
    t = np.median(t[:, 1])
    print(f"{'autograd + optim.SGD, N=' + str(width):<34} step {t * 1e3:8.3f} ms  share of peak {share:6.1%}")
    return t


def bench_loop(task, widths, batch, loop_steps, rounds=3):
    """The whole train_sweep loop against the bare step, in interleaved rounds (same load).

    The loop is timed at two lengths, L and 2L steps, with the same records (n_history = 1:
    steps 0, 1 and the end); the difference is the loop's cost per step without its fixed
    start-up (initial weights, the network, the first and last records). A default run (10⁵
    steps, n_history = 60) makes ~120 exact-risk records; one record is timed on its own, and
    the share of a default run is bare step / (loop per step + 120 records / 10⁵).
    """
    from lazytrain.train.sgd import checkpoints

    gen = torch.Generator().manual_seed(0)
    nets = make_nets(task, widths)

    def bare():
        for _ in range(loop_steps):
            xs, ys = task.sample_torch(batch, gen, "cpu", torch.float32)
            nets.step(xs, ys, 1e-9)

    def loop(steps):
        return lambda: train_sweep(task, "nn", widths, steps=steps, lr=1e-4, n_history=1)

    def record():
        [task.predictor_risk(*nets.quadratic_form(k)) for k in range(nets.K)]
        nets.weight_changes()

    t = paired([bare, loop(loop_steps), loop(2 * loop_steps), record], rounds=rounds)
    step, per_step, rec = t[:, 0] / loop_steps, (t[:, 2] - t[:, 1]) / loop_steps, t[:, 3]
    startup = t[:, 1] - loop_steps * per_step
    n_rec_default = len(checkpoints(100_000, 60))
    measured = np.median(step / per_step)
    projected = np.median(step / (per_step + n_rec_default * rec / 100_000))
    print(f"full train_sweep loop over all widths: {np.median(per_step) * 1e3:.3f} ms/step (from runs of "
          f"{loop_steps} and {2 * loop_steps} steps; fixed start-up {np.median(startup):.2f} s), "
          f"{measured:.1%} of it in the bare step")
    print(f"  one exact-risk record of all {nets.K} widths: {np.median(rec) * 1e3:.1f} ms "
          f"= {np.median(rec / step):.1f} bare steps; a default run (10⁵ steps, {n_rec_default} records) "
          f"spends {projected:.1%} of its loop in the bare step")
    return measured, projected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--d", type=int, default=450)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--loop-steps", type=int, default=500)
    parser.add_argument("--only-loop", action="store_true", help="only the whole-loop measurement")
    parser.add_argument("--bf16", action="store_true", help="only the bf16 measurements")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = QuadraticTarget.paper(d=args.d)
    widths = list(range(30, args.d + 1, 30)) if args.d >= 30 else [args.d]
    peak_fn = matmul_peak_fn()
    t_peak = np.median(paired([peak_fn[0]])[:, 0])
    print(f"torch {torch.__version__}, {args.threads} thread(s), d={args.d}, batch={args.batch}")
    print(f"float32 matmul peak (1536³ product): {peak_fn[1] / t_peak / 1e9:.1f} GFLOP/s; every share below "
          f"is the median over rounds of (step flops / step time) / (peak measured in the same round)\n")
    if args.bf16:
        bench_bf16_all(task, widths, args)
        return
    if args.only_loop:
        bench_loop(task, widths, args.batch, args.loop_steps)
        return
    t_single = bench_config(task, [args.d], args.batch, f"NN N={args.d}", peak_fn)[0]
    t_stack, share = bench_config(task, widths, args.batch, f"NN stacked N={widths[0]}..{widths[-1]} "
                                  f"(ΣN={sum(widths)})", peak_fn)
    t_auto = bench_autograd(task, args.d, args.batch, peak_fn)
    sub = widths[:: max(1, len(widths) // 3)]
    t_separate = sum(bench_config(task, [n], args.batch, f"  NN N={n} alone", peak_fn)[0] for n in sub)
    t_sub_stack = bench_config(task, sub, args.batch, f"  NN stacked {sub}", peak_fn)[0]
    print(f"\nstacking {len(sub)} widths on one sample stream: {t_separate / t_sub_stack:.2f}x faster "
          f"than one run per width")
    print(f"hand-written step vs autograd + optim.SGD at N={args.d}: {t_auto / t_single:.2f}x faster")
    bench_loop(task, widths, args.batch, args.loop_steps)
    print(f"\nSGD step share of the float32 matmul peak (stacked sweep): {share:.1%}")
    bench_bf16_all(task, widths, args)


def bench_bf16_all(task, widths, args):
    """bf16 against float32: single N = d and the stacked sweep (the issue's targets 2x, 2.5x)."""
    print("\nmixed precision (bf16 products, float32 masters), same rounds as its float32 step:")
    single = bench_bf16(task, [args.d], args.batch, f"NN N={args.d}")[0]
    stacked = bench_bf16(task, widths, args.batch, f"NN stacked ΣN={sum(widths)}")[0]
    print(f"bf16 speed-up over float32: single N={args.d} {single:.2f}x (target 2x), "
          f"stacked ΣN={sum(widths)} {stacked:.2f}x (target 2.5x)")


if __name__ == "__main__":
    main()
