"""Mixed-precision SGD (dtype='bfloat16'): the products in bf16, everything recorded in float64.

bfloat16 keeps 8 significant bits: one rounding moves a number by at most u = 2⁻⁹ relative
(half an ulp, 2⁻⁸). A step rounds x and W (the forward product's inputs), the projections H,
the backward array and the update product's output: five roundings, each of at most u,
so the move of a parameter in one step differs from the float64 move by at most about 5u
entrywise and, the roundings being independent, by about √5·u/√3 ≈ 0.15 % in the Frobenius norm.
"""

import numpy as np
import pytest
import torch

from lazytrain import QuadraticTarget, random_weights, train_sweep
from lazytrain.activations import get_activation
from lazytrain.train import TrainConfig, bf16_available
from lazytrain.train.models import make_model

D = 20
U = 2.0 ** -9  # unit roundoff of bfloat16

# These tests check bf16 arithmetic on any machine; where torch emulates it, the config says so once
# per run (test_bf16_without_bf16_units_warns), which is not what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:dtype='bfloat16' on:RuntimeWarning")


@pytest.fixture(scope="module")
def task():
    return QuadraticTarget.paper(d=D)


def _pair(regime, widths=(3, 5), **kw):
    """The same stacked model in float64 and in float32 with bf16 products."""
    weights = [random_weights(D, n, seed=i) for i, n in enumerate(widths)]
    a0 = [np.random.default_rng(i).standard_normal(n) for i, n in enumerate(widths)]
    args = (regime, get_activation("quadratic"), weights, a0, [0.05, 0.02][: len(widths)])
    ref = make_model(*args, offset_mult=3.0, dtype=torch.float64, **kw)
    low = make_model(*args, offset_mult=3.0, dtype=torch.float32, matmul_dtype=torch.bfloat16, **kw)
    return ref, low


@pytest.mark.parametrize("regime, kw", [("rf", {}), ("nt", {}), ("nt", {"second_layer": True}),
                                        ("nn", {"shared_a": False}), ("nn", {"alpha": 2.0, "shared_a": False})])
def test_bf16_step_moves_as_the_float64_step_within_bf16_rounding(task, regime, kw):
    ref, low = _pair(regime, **kw)
    gen = torch.Generator().manual_seed(3)
    for _ in range(2):  # the second step reads the low copy the first one refreshed
        x, y = task.sample_torch(16, gen, "cpu", torch.float64)
        before = {k: v.clone() for k, v in ref.parameters().items()}
        before_low = {k: v.to(torch.float64) for k, v in low.parameters().items()}
        ref.step(x, y, 0.7)
        low.step(x.float(), y.float(), 0.7)
        for k, v in ref.parameters().items():
            move, move_low = v - before[k], low.parameters()[k].to(torch.float64) - before_low[k]
            err = float((move_low - move).norm() / move.norm())
            assert err < 6 * U, (k, err)           # √5 u/√3 expected; 6u: the entrywise bound
            if k in low.transposed:                 # the products were really rounded
                assert err > 1e-2 * U, (k, err)
        assert low.low.dtype == torch.bfloat16
        assert torch.equal(low.low, low.product_buffer.to(torch.bfloat16))  # refreshed by the step
        for k, v in ref.parameters().items():       # the float32 masters carry the float64 run on
            low.parameters()[k].copy_(v)
        low.refresh()


def test_bf16_training_matches_float32_on_the_same_seeds(task):
    """Same samples and initial weights: the final risks agree within what bf16 rounding allows.

    The roundings are zero-mean noise added to SGD's own (a batch of 100 samples); they move the
    final risk by far less than 1 % of its value, plus a floor: the weights stay within the cells of
    the bf16 lattice around the float32 trajectory (relative 2⁻⁹), whose risk is ~u² ≈ 4·10⁻⁶
    of R0. Tolerance: 2 % of the risk + 10⁻⁴. Measured: at d = 30 (4000 steps) the gaps were
    ≤ 2·10⁻⁵, at d = 450 (2·10⁴ steps, docs/reproduction.md) 1.5·10⁻⁶ to 4.9·10⁻⁵.
    """
    for regime, widths in (("nn", (6, 15, 40)), ("nt", (10, 30))):
        kw = dict(steps=1500, seed=1)
        f32 = train_sweep(task, regime, widths, dtype="float32", **kw)
        bf = train_sweep(task, regime, widths, dtype="bfloat16", **kw)
        for a, b in zip(f32, bf):
            assert abs(a.risk - b.risk) <= 0.02 * a.risk + 1e-4, (regime, a.risk, b.risk)
            assert b.settings["dtype"] == "bfloat16" and a.settings["dtype"] == "float32"
        moved = [float(np.abs(a.params["W" if regime == "nn" else "G"]
                              - b.params["W" if regime == "nn" else "G"]).max()) for a, b in zip(f32, bf)]
        assert max(moved) > 0  # the bf16 products changed the trajectory: the path was taken


def test_bf16_run_records_float64_numbers(task):
    res = train_sweep(task, "nt", (5, 12), steps=200, seed=2, dtype="bfloat16", average=0.5)
    for r in res:
        assert isinstance(r.risk, float) and r.risk_method == "exact"
        assert r.history.risk.dtype == np.float64 and r.history.weight_change.dtype == np.float64
        assert all(np.asarray(v).dtype == np.float64 for v in r.params.values())
        M, c = r.quadratic_form
        assert M.dtype == np.float64
        assert r.risk == pytest.approx(task.predictor_risk(M, c), rel=1e-12)


def test_bf16_config_keeps_float32_masters():
    cfg = TrainConfig("nn", (5,), D, dtype="bfloat16")
    assert cfg.dtype == torch.bfloat16 and cfg.param_dtype == torch.float32
    assert cfg.matmul_dtype == torch.bfloat16
    assert TrainConfig("nn", (5,), D).matmul_dtype is None
    with pytest.raises(ValueError, match="dtype"):
        TrainConfig("nn", (5,), D, dtype="float16")


def test_bf16_without_bf16_units_warns(monkeypatch):
    """On a device without bf16 matrix units torch emulates the products (about 20x slower than
    float32 on an AVX2-only CPU): asking for bfloat16 there says so; with units it is silent."""
    import importlib
    import warnings

    config = importlib.import_module("lazytrain.train.config")  # (lazytrain.train is also a function)

    monkeypatch.setattr(config, "bf16_available", lambda device="cpu": False)
    with pytest.warns(RuntimeWarning, match=r"dtype='bfloat16' on cpu, which has no bf16 matrix units"):
        TrainConfig("nn", (5,), D, dtype="bfloat16")
    monkeypatch.setattr(config, "bf16_available", lambda device="cpu": True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TrainConfig("nn", (5,), D, dtype="bfloat16")
        TrainConfig("nn", (5,), D)


@pytest.mark.parametrize("flags, expected", [("fpu avx512f avx512_bf16 sse", True),
                                             ("fpu amx_bf16 amx_tile", True),
                                             ("fpu avx512f avx2", False)])
def test_bf16_detection_reads_the_cpu_flags(tmp_path, flags, expected):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert bf16_available("cpu", cpuinfo=str(info)) is expected
    assert bf16_available("cpu", cpuinfo=str(tmp_path / "missing")) is False


def test_bf16_points_have_their_own_keys_and_float32_keys_do_not_move():
    """dtype is a training option hashed into an SGD point's key: bf16 values are never taken for
    float32 ones, and a float32 spec's points keep the keys they had (dtype spelled out or not)."""
    from lazytrain.experiments import expand
    from lazytrain.experiments.spec import validate_spec

    base = {"name": "t", "task": {"type": "paper", "d": 12, "seed": 100}, "activations": ["quadratic"],
            "n_neurons": [4, 8], "seeds": [0], "kinds": ["sgd"], "regimes": ["nn"]}
    keys = {dt: {p.key for p in expand(validate_spec({**base, "training": {"steps": 20, "dtype": dt}}))}
            for dt in ("float32", "bfloat16")}
    default = {p.key for p in expand(validate_spec({**base, "training": {"steps": 20}}))}
    assert default == keys["float32"] and not keys["float32"] & keys["bfloat16"]
