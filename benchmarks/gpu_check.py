"""CUDA end to end: is the GPU path right, and how close does its SGD step run to the device's peak?

Three checks, each printed with PASS/FAIL, in well under 5 minutes on one GPU:

1. **Same steps, same numbers.** The networks of every regime (RF, NT with and without the
   second layer, NN with a shared or per-neuron a, the lazy NN at α = 10 and 1000), built on the CPU
   and on the GPU from the same weights, take 300 SGD steps on the same batches (drawn on the CPU,
   copied to the GPU); their parameters must agree to float32 tolerance, and so must the exact risk
   of the trained quadratic forms.
2. **Training ends where it should.** ``train(..., device="cuda")`` (its own sample stream on the
   GPU): the lazy NN at α = 1000 within max(0.02, 10 %) of the exact NT + second-layer risk, the
   mean-field NN within the same tolerance of the NN optimum (Wishart B, d = 30, N = 6), and a ReLU
   network whose Monte-Carlo risk runs on the GPU.
   With ``dtype='bfloat16'`` (bf16 products, float32 master weights) the GPU networks must end
   within bf16 rounding of the CPU float32 ones: exact risks within 2 % + 10⁻⁴ (as
   ``tests/test_bf16.py``), and ``train(..., dtype='bfloat16')`` passes the checks of 2.
3. **Speed.** The device's float32 and bf16 matmul peaks (8192³ products, CUDA events) and the
   share of each that the stacked SGD step of Figure 1 (d = 450, N = 30…450, batch 100, and batch
   1000) reaches in float32 and in bf16, counting the step's two products (4·B·d·ΣN flops), as in
   ``bench_sgd.py``, and the bf16 step's speed-up over the float32 one.

Without CUDA it says so and exits with status 0 (nothing to check here).

Run:  python benchmarks/gpu_check.py   (``--dry-run``: checks 1 and 2 on the CPU, to test the script)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from lazytrain import QuadraticTarget, exact_risk, random_weights, theory_risk, train
from lazytrain.activations import get_activation
from lazytrain.train.models import make_model

FAILED = []
#: The device under test ('cuda'; ``--dry-run`` runs checks 1 and 2 with 'cpu' to test this script).
DEVICE = "cuda"


def check(name, ok, detail=""):
    print(f"  {'PASS' if ok else 'FAIL'}  {name}  {detail}")
    if not ok:
        FAILED.append(name)


def wishart(d=30, seed=7):
    Z = np.random.default_rng(seed).standard_normal((d, d))
    return QuadraticTarget(Z @ Z.T / d**1.5)


CASES = [  # (label, regime, make_model keyword arguments)
    ("rf", "rf", {}),
    ("nt", "nt", {}),
    ("nt + second layer", "nt", {"second_layer": True}),
    ("nn, shared a", "nn", {"shared_a": True}),
    ("nn, per-neuron a", "nn", {"shared_a": False}),
    ("lazy nn, α = 10", "nn", {"alpha": 10.0}),
    ("lazy nn, α = 1000", "nn", {"alpha": 1000.0}),
]


def same_steps():
    print("1. CPU and GPU networks on the same batches (float32, 300 steps, widths 4, 9, 20); "
          "bf16 products on the GPU against float32 on the CPU")
    task = QuadraticTarget.paper(d=40)
    widths = [4, 9, 20]
    weights = [random_weights(40, n, seed=i) for i, n in enumerate(widths)]
    a0 = [np.where(np.arange(n) % 3 == 0, -1.0, 1.0) for n in widths]
    act = get_activation("quadratic")
    gen = torch.Generator().manual_seed(0)
    batches = [task.sample_torch(100, gen, "cpu", torch.float32) for _ in range(300)]
    for label, regime, kw in CASES:
        nets = {dev: make_model(regime, act, weights, a0, [0.01, 0.005, 0.002], offset_mult=10.0,
                                device=dev.split(":")[0], matmul_dtype=torch.bfloat16 if "bf16" in dev else None,
                                **kw) for dev in ("cpu", DEVICE, DEVICE + ":bf16")}
        if kw.get("shared_a"):
            for net in nets.values():
                net.a += 0.5  # a shared a = 0 would make the first steps trivial
        for x, y in batches:
            for dev, net in nets.items():
                net.step(x.to(dev.split(":")[0]), y.to(dev.split(":")[0]))
        cpu, gpu = (nets[d].parameters() for d in ("cpu", DEVICE))
        worst = max(float((cpu[k] - gpu[k].cpu()).abs().max() / (cpu[k].abs().max() + 1e-12)) for k in cpu)
        risks = {d: [task.predictor_risk(*net.quadratic_form(k)) for k in range(3)] for d, net in nets.items()}
        gap = max(abs(a - b) for a, b in zip(risks["cpu"], risks[DEVICE]))
        check(label, worst < 1e-3 and gap < 1e-4,
              f"largest relative parameter gap {worst:.2e}, largest risk gap {gap:.2e}")
        bf = risks[DEVICE + ":bf16"]
        ok = all(abs(a - b) <= 0.02 * a + 1e-4 for a, b in zip(risks["cpu"], bf))
        check(label + ", bf16 products", ok, "risks " + ", ".join(
            f"{a:.5f}/{b:.5f}" for a, b in zip(risks["cpu"], bf)) + " (float32 CPU / bf16)")


def training_ends_right(dtype="float32"):
    print(f"2. train(..., device='cuda', dtype={dtype!r}) against exact risks (Wishart B, d = 30, N = 6, seed 0)")
    task = wishart()
    W = random_weights(30, 6, seed=0)
    tol = lambda ref: max(0.02, 0.1 * ref)  # noqa: E731
    lazy_limit = exact_risk(task, "nt", W, second_layer=True)
    res = train(task, "nn", 6, alpha=1000, steps=6000, lr=0.01, device=DEVICE, dtype=dtype)
    check("lazy NN (α = 1000) ends at the exact NT + second-layer risk",
          abs(res.risk - lazy_limit) <= tol(lazy_limit) and res.weight_change < 0.05,
          f"{res.risk:.4f} vs {lazy_limit:.4f}, movement {res.weight_change:.4f}")
    optimum = theory_risk(task, "nn", 6)
    res = train(task, "nn", 6, steps=6000, lr=0.01, device=DEVICE, dtype=dtype)
    check("mean-field NN ends at the NN optimum", abs(res.risk - optimum) <= tol(optimum),
          f"{res.risk:.4f} vs {optimum:.4f}")
    relu_limit = exact_risk(task, "nt", W, activation="relu", second_layer=True)
    res = train(task, "nn", 6, activation="relu", alpha=1000, steps=6000, lr=0.01, device=DEVICE,
                n_test=200_000, dtype=dtype)
    check("lazy ReLU NN ends at the exact ReLU NT + second-layer risk (Monte Carlo on the GPU)",
          abs(res.risk - relu_limit) <= tol(relu_limit) + 3 * res.risk_se,
          f"{res.risk:.4f} ± {res.risk_se:.4f} vs {relu_limit:.4f}")


def cuda_time(fn, repeat=20):
    """Median time of fn() over ``repeat`` calls, by CUDA events (after a warm-up)."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return float(np.median(times))


def speed():
    print("3. speed: share of the device's float32 and bf16 matmul peaks")
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 peak, as the step uses
    size = 8192
    peaks = {}
    for dt in (torch.float32, torch.bfloat16):
        a, b = (torch.randn(size, size, device="cuda", dtype=dt) for _ in range(2))
        out = torch.empty(size, size, device="cuda", dtype=dt)
        peaks[dt] = 2 * size**3 / cuda_time(lambda a=a, b=b, out=out: torch.mm(a, b, out=out), repeat=10)
        print(f"  {dt} matmul peak ({size}³): {peaks[dt] / 1e12:.1f} TFLOP/s ({torch.cuda.get_device_name()})")
    task = QuadraticTarget.paper(d=450)
    widths = list(range(30, 451, 30))
    act = get_activation("quadratic")
    weights = [random_weights(450, n, seed=0) for n in widths]
    for batch in (100, 1000):
        times = {}
        for dt in (torch.float32, torch.bfloat16):
            nets = make_model("nn", act, weights, [np.ones(n) for n in widths], [1e-9] * len(widths),
                              offset_mult=10.0, device="cuda",
                              matmul_dtype=dt if dt == torch.bfloat16 else None)
            nets.a += 1.0
            gen = torch.Generator(device="cuda").manual_seed(0)

            def step(nets=nets, gen=gen, batch=batch):
                x, y = task.sample_torch(batch, gen, "cuda", torch.float32)
                nets.step(x, y, 1e-9)

            t = times[dt] = cuda_time(step, repeat=50)
            flops = 4 * batch * 450 * sum(widths)
            print(f"  stacked NN step, {dt}, batch {batch}: {t * 1e3:.3f} ms, {flops / t / 1e12:.2f} TFLOP/s, "
                  f"{flops / t / peaks[dt]:.1%} of the {dt} peak")
        print(f"  bf16 step {times[torch.float32] / times[torch.bfloat16]:.2f}x faster than float32 (batch {batch})")
    # the whole loop on the GPU, with its records, at the paper's budget density
    start = time.perf_counter()
    from lazytrain import train_sweep

    train_sweep(task, "nn", widths, steps=3000, lr=1e-4, n_history=2, device="cuda")
    torch.cuda.synchronize()
    print(f"  train_sweep loop (15 widths, 3000 steps): {(time.perf_counter() - start) / 3000 * 1e3:.3f} ms/step")


def main():
    global DEVICE
    if "--dry-run" in sys.argv[1:]:
        DEVICE = "cpu"
        print("gpu_check --dry-run: checks 1 and 2 with the CPU in place of the GPU (tests this script)")
        torch.set_num_threads(1)
        same_steps()
        training_ends_right()
        training_ends_right("bfloat16")
        return 1 if FAILED else 0
    if not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here; nothing to check (skipped).")
        return 0
    start = time.perf_counter()
    same_steps()
    training_ends_right()
    training_ends_right("bfloat16")
    speed()
    print(f"\n{len(FAILED)} check(s) failed{': ' + ', '.join(FAILED) if FAILED else ''}; "
          f"{time.perf_counter() - start:.0f} s")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
