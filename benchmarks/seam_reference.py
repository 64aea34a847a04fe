"""Reference outputs of the regime-dependent paths, to check that a refactoring moves no number.

Records, for small problems with fixed seeds, everything a regime touches:

* ``train``/``train_sweep`` for RF, NT (plain, preconditioned, + second layer), NN (shared a,
  per-neuron a0, the lazy α scaling), with the quadratic activation (exact risks) and with
  ReLU / tanh (Monte-Carlo risks), float32 and float64: final risk, history, parameters;
* the hand-written gradients of the SGD models on a fixed random state (float64), with the
  central difference of the loss along each (an independent check; ``grad_sq`` should match it
  for the rescaled lazy parameters only up to α², see the training docs);
* exact risks (closed form and general solver), ``fit`` and ``degree_risks`` for several tasks,
  activations and regimes.

Run:  python benchmarks/seam_reference.py OUT.json [--compare BEFORE.json]
With ``--compare`` it prints the largest absolute and relative difference per group (float64
and float32 training separately) against an earlier record.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import lazytrain as lt
from lazytrain.activations import get_activation

D = 20


def _plain(x):
    """JSON-able copy of a result value (arrays to nested lists, tuples to lists)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _plain(x.detach().cpu().numpy())
    if isinstance(x, np.ndarray):
        return x.astype(float).tolist()
    if isinstance(x, (np.floating, np.integer)):
        return float(x)
    return x


TRAIN_CASES = [  # (label, regime, activation, keywords)
    ("rf-quad", "rf", "quadratic", {}),
    ("nt-quad-pre", "nt", "quadratic", {}),
    ("nt-quad-plain", "nt", "quadratic", {"precondition": False, "average": 0.0}),
    ("nt-quad-second", "nt", "quadratic", {"second_layer": True}),
    ("nn-quad-shared", "nn", "quadratic", {}),
    ("nn-quad-per-neuron", "nn", "quadratic", {"shared_a": False, "a0": "ones"}),
    ("nn-quad-lazy", "nn", "quadratic", {"alpha": [10.0, 0.5]}),
    ("nn-quad-avg", "nn", "quadratic", {"average": 0.2, "schedule": "constant"}),
    ("rf-relu", "rf", "relu", {"n_test": 3000}),
    ("nt-relu-second", "nt", "relu", {"second_layer": True, "n_test": 3000}),
    ("nt-relu-pre", "nt", "relu", {"precondition": True, "n_test": 3000}),
    ("nn-tanh-per-neuron", "nn", "tanh", {"shared_a": False, "n_test": 3000}),
    ("nn-relu-lazy", "nn", "relu", {"alpha": 30.0, "n_test": 3000}),
]


def train_outputs(dtype):
    task = lt.QuadraticTarget.paper(d=D)
    mix = lt.GaussianMixture.paper(d=D)
    out = {}
    cases = [(label, task, *rest) for label, *rest in TRAIN_CASES]
    cases.append(("mixture-nn-quad", mix, "nn", "quadratic", {}))
    cases.append(("mixture-nt-quad", mix, "nt", "quadratic", {}))
    for label, tk, regime, act, kw in cases:
        res = lt.train_sweep(tk, regime, [4, 9], act, steps=300, lr=0.01, seed=3, dtype=dtype,
                             n_history=5, **kw)
        out[label] = [dict(risk=r.risk, risk_se=r.risk_se, history=r.history.risk,
                           weight_change=r.history.weight_change, params=r.params,
                           quadratic_form=r.quadratic_form) for r in res]
    single = lt.train(task, "nn", 6, steps=200, lr=0.01, seed=1, dtype=dtype)
    out["single-nn"] = dict(risk=single.risk, history=single.history.risk, params=single.params)
    return _plain(out)


GRAD_CASES = [  # (label, regime, activation, keywords of the model)
    ("rf", "rf", "quadratic", {}), ("rf-tanh", "rf", "tanh", {}),
    ("nt", "nt", "quadratic", {}), ("nt-tanh", "nt", "tanh", {}),
    ("nt-second", "nt", "quadratic", {"second_layer": True}),
    ("nt-second-tanh", "nt", "tanh", {"second_layer": True}),
    ("nn-shared", "nn", "quadratic", {}), ("nn-shared-tanh", "nn", "tanh", {}),
    ("nn-per-neuron", "nn", "quadratic", {"shared_a": False}),
    ("nn-per-neuron-tanh", "nn", "tanh", {"shared_a": False}),
    ("nn-lazy", "nn", "quadratic", {"alpha": [7.0, 2.0, 0.5]}),
    ("nn-lazy-tanh", "nn", "tanh", {"alpha": [7.0, 2.0, 0.5]}),
]


def _make_model(regime, act, weights, a0, lrs, kw):
    """The SGD model of one case, through whichever training API this checkout has."""
    try:
        from lazytrain.train.models import make_model
    except ImportError:
        from lazytrain.train.networks import Networks

        return Networks(regime, act, weights, a0, lrs, offset_mult=3.0, dtype=torch.float64, **kw)
    return make_model(regime, act, weights, a0, lrs, offset_mult=3.0, dtype=torch.float64, **kw)


def gradient_outputs():
    """Hand-written gradients at a fixed random state, and their gap to torch autograd."""
    task = lt.QuadraticTarget.paper(d=D)
    widths = (3, 5, 1)
    out = {}
    for label, regime, act_name, kw in GRAD_CASES:
        act = get_activation(act_name)
        rng = np.random.default_rng(0)
        weights = [lt.random_weights(D, n, seed=i) for i, n in enumerate(widths)]
        a0 = [np.where(rng.random(n) < 0.5, -1.0, 1.0) for n in widths]
        net = _make_model(regime, act, weights, a0, [0.1, 0.2, 0.05], kw)
        gen = torch.Generator().manual_seed(1)
        params = net.parameters()
        for name in sorted(params):  # a random state away from the start (every name moved)
            t = params[name]
            t += 0.1 * torch.randn(t.shape, generator=gen, dtype=torch.float64)
        x, y = task.sample_torch(9, torch.Generator().manual_seed(2), "cpu", torch.float64)
        grads, r = net.gradients(x, y)
        with torch.no_grad():
            saved = {k: v.clone() for k, v in params.items()}
        # an independent check of each gradient: the central difference of Σ_k loss_k along it
        ref = {}
        for name in params:
            g = grads[name]
            h = 1e-6 * max(1.0, float(saved[name].abs().max()))
            with torch.no_grad():
                params[name].copy_(saved[name] + h * g)
                lp = ((net.predict(x) - y[:, None]) ** 2).mean(dim=0)
                params[name].copy_(saved[name] - h * g)
                lm = ((net.predict(x) - y[:, None]) ** 2).mean(dim=0)
                params[name].copy_(saved[name])
            ref[name] = float(((lp - lm) / (2 * h)).sum())
        out[label] = dict(grads=_plain(grads), residual=_plain(r),
                          directional=ref, grad_sq={k: float((g * g).sum()) for k, g in grads.items()})
    return out


def exact_outputs():
    quad = lt.QuadraticTarget.paper(d=D)
    mix = lt.GaussianMixture.paper(d=D)
    herm = lt.HermiteTarget(np.eye(2, D), [[0.3, 1.0, 0.5], [0.0, 1.0, -0.4]])
    W = lt.random_weights(D, 12, seed=4)
    Wbig = lt.random_weights(D, 30, seed=5)
    out = {}

    def put(key, fn):
        try:
            out[key] = _plain(fn())
        except Exception as exc:  # noqa: BLE001 - the refusal (and its message) is recorded too
            out[key] = f"{type(exc).__name__}: {exc}"

    for tname, task in (("quad", quad), ("mix", mix), ("herm", herm)):
        for act in ("quadratic", "relu", "tanh", "hard_tanh"):
            for regime, kw in (("rf", {}), ("nt", {}), ("nt", {"second_layer": True}), ("nn", {})):
                tag = f"exact/{tname}/{act}/{regime}{'+2' if kw else ''}"
                put(tag, lambda task=task, regime=regime, act=act, kw=kw: lt.exact_risk(task, regime, W, act, **kw))
                if act == "quadratic" and regime != "nn":
                    put(tag + "/general", lambda task=task, regime=regime, kw=kw: lt.exact_risk(
                        task, regime, W, "quadratic", closed_form=False, **kw))
            put(f"exact/{tname}/{act}/nt-big", lambda task=task, act=act: lt.exact_risk(task, "nt", Wbig, act))
        for regime, act, kw in (("rf", "relu", {}), ("nt", "relu", {}), ("nt", "quadratic", {"second_layer": True}),
                                ("rf", "quadratic", {}), ("nt", "tanh", {})):
            for method in ("dense", "dual", "cg"):
                tag = f"fit/{tname}/{regime}{'+2' if kw else ''}/{act}/{method}"

                def one(task=task, regime=regime, act=act, kw=kw, method=method):
                    res = lt.fit(task, regime, W, n_samples=150, ridge=1e-3, activation=act, seed=2,
                                 method=method, **kw)
                    return dict(risk=res.risk, train_risk=res.train_risk, coef=res.coef)
                put(tag, one)
        for regime in ("rf_kernel", "nt_kernel"):
            put(f"fit/{tname}/{regime}", lambda task=task, regime=regime: lt.fit(
                task, regime, None, n_samples=120, ridge=1e-2, seed=1).risk)
    for task_name, task in (("herm", herm), ("quad", quad)):
        for regime, act, kw in (("rf", "relu", {}), ("nt", "relu", {}), ("nt", "tanh", {"second_layer": True}),
                                ("rf", "quadratic", {}), ("nt", "quadratic", {})):
            put(f"degrees/{task_name}/{regime}{'+2' if kw else ''}/{act}",
                lambda task=task, regime=regime, act=act, kw=kw: lt.degree_risks(task, regime, W, act, **kw))
    return out


def _flatten(x, prefix=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _flatten(v, f"{prefix}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, x


def compare(before, after):
    """Largest |difference| and relative difference per group; keys present in one record only."""
    flat_b, flat_a = dict(_flatten(before)), dict(_flatten(after))
    groups = {}
    missing = sorted(set(flat_b) ^ set(flat_a))
    for key in flat_b.keys() & flat_a.keys():
        b, a = flat_b[key], flat_a[key]
        group = "/".join(key.split("/")[1:3])
        g = groups.setdefault(group, [0.0, 0.0, "", 0, []])
        g[3] += 1
        if isinstance(b, (int, float)) and isinstance(a, (int, float)) and b is not None:
            diff = abs(a - b)
            rel = diff / max(abs(b), 1e-300) if diff else 0.0
            if diff > g[0]:
                g[0], g[2] = diff, key
            g[1] = max(g[1], rel)
        elif b != a:
            g[4].append(key)
    return groups, missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--compare")
    parser.add_argument("--only", choices=["train", "grad", "exact"], action="append")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = {"train64": lambda: train_outputs("float64"), "train32": lambda: train_outputs("float32"),
             "grad": gradient_outputs, "exact": exact_outputs}
    wanted = {"train": ("train64", "train32"), "grad": ("grad",), "exact": ("exact",)}
    names = [n for k in (args.only or wanted) for n in wanted[k]]
    record = {}
    for name in names:
        t = time.perf_counter()
        record[name] = parts[name]()
        print(f"{name}: {time.perf_counter() - t:.1f} s", flush=True)
    with open(args.out, "w") as fh:
        json.dump(record, fh)
    if args.compare:
        with open(args.compare) as fh:
            before = json.load(fh)
        before = {k: v for k, v in before.items() if k in record}
        groups, missing = compare(before, record)
        for group, (diff, rel, key, count, unequal) in sorted(groups.items()):
            print(f"{group:<40} {count:6d} values  max |diff| {diff:.3g}  max rel {rel:.3g}  {key}"
                  + (f"  UNEQUAL: {unequal[:3]}" if unequal else ""))
        if missing:
            print("keys in one record only:", missing[:20], len(missing))


if __name__ == "__main__":
    main()
