"""The laziness dial: train(task, "nn", N, alpha=α), against independent computations.

As α → ∞ the lazily scaled network must become its linearisation at (W0, a0), i.e. the NT model
with the second layer (checked against the NT code path step by step and against the exact
NT + second-layer risk); without α it is the mean-field network that reaches the NN optimum.
"""

import numpy as np
import pytest
import torch

from lazytrain import QuadraticTarget, exact_risk, random_weights, theory_risk, train, train_sweep
from lazytrain.activations import Activation, get_activation
from lazytrain.train.models import make_model
from lazytrain.train.sgd import cpu_threads

D = 30
N = 6


def _tolerance(reference):
    return max(0.02, 0.1 * reference)


@pytest.fixture(scope="module")
def wishart():
    """A full Wishart B (not diagonal), scaled like the paper's target (‖B‖_F² ≈ 2)."""
    Z = np.random.default_rng(7).standard_normal((D, D))
    return QuadraticTarget(Z @ Z.T / D**1.5)


# ---------------------------------------------------------------- what the issue asks to show
@pytest.mark.parametrize("seed", [0, 1])
def test_large_alpha_ends_at_the_nt_second_layer_risk(wishart, seed):
    exact = exact_risk(wishart, "nt", random_weights(D, N, seed=seed), second_layer=True)
    res = train(wishart, "nn", N, alpha=1000, steps=6000, lr=0.01, seed=seed)
    assert res.alpha == 1000.0 and res.risk_method == "exact"
    assert abs(res.risk - exact) <= _tolerance(exact), (res.risk, exact)
    assert res.risk >= exact - 1e-3  # the linearised class cannot beat its own optimum (to O(1/α))
    assert res.weight_change < 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_mean_field_ends_at_the_nn_optimum(wishart, seed):
    optimum = theory_risk(wishart, "nn", N)  # Eckart-Young on B
    res = train(wishart, "nn", N, steps=6000, lr=0.01, seed=seed)
    assert res.alpha is None
    assert abs(res.risk - optimum) <= _tolerance(optimum), (res.risk, optimum)
    assert res.weight_change > 0.2
    # and it is far below what the lazy network can reach
    assert res.risk < exact_risk(wishart, "nt", random_weights(D, N, seed=seed), second_layer=True) - 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_large_alpha_relu_ends_at_the_relu_nt_second_layer_risk(wishart, seed):
    exact = exact_risk(wishart, "nt", random_weights(D, N, seed=seed), activation="relu",
                       second_layer=True)
    res = train(wishart, "nn", N, activation="relu", alpha=1000, steps=6000, lr=0.01, seed=seed,
                n_test=100_000)
    assert res.risk_method == "monte_carlo"
    assert abs(res.risk - exact) <= _tolerance(exact) + 3 * res.risk_se, (res.risk, res.risk_se, exact)
    assert res.weight_change < 0.05


# ---------------------------------------------------------------- the limit, step by step
def _pair(act, alpha, dtype=torch.float64):
    """A lazy network and the NT + second-layer network with the same W0, a0 and second layer from 0."""
    weights = [random_weights(12, n, seed=i) for i, n in enumerate((3, 5))]
    a0 = [np.where(np.arange(n) % 2 == 0, 1.0, -1.0) for n in (3, 5)]
    kw = dict(offset_mult=3.0, dtype=dtype)
    lazy = make_model("nn", act, weights, a0, [0.02, 0.01], alpha=alpha, shared_a=False, **kw)
    nt = make_model("nt", act, weights, a0, [0.02, 0.01], second_layer=True, **kw)
    nt.a.zero_()  # the linearisation of α(h(θ) - h(θ0)) has no h(θ0) term: its second layer starts at 0
    return lazy, nt


@pytest.mark.parametrize("act", ["quadratic", "relu", "tanh"])
def test_lazy_trajectory_tends_to_the_linearised_one_like_one_over_alpha(act):
    task = QuadraticTarget.paper(d=12)
    act = get_activation(act)
    gaps = []
    for alpha in (1e2, 1e3):
        lazy, nt = _pair(act, alpha)
        gen = torch.Generator().manual_seed(0)
        with cpu_threads("cpu", 0):
            for _ in range(200):
                x, y = task.sample_torch(20, gen, "cpu", torch.float64)
                lazy.step(x, y)
                nt.step(x, y)
        x, _ = task.sample_torch(2000, torch.Generator().manual_seed(1), "cpu", torch.float64)
        f_nt = nt.predict(x)
        # mean absolute gap: for ReLU the rare inputs near a kink differ by O(1) at any α, but their
        # share falls like 1/α, so the mean gap still falls like 1/α (the maximum would not)
        gaps.append(float((lazy.predict(x) - f_nt).abs().mean() / f_nt.abs().mean()))
    assert gaps[1] < 1e-2, gaps
    assert 4 < gaps[0] / gaps[1] < 20, gaps  # O(1/α)


def test_weight_change_falls_like_one_over_alpha_and_is_recorded():
    task = QuadraticTarget.paper(d=20)
    kw = dict(steps=1500, lr=0.01, seed=0)
    a, b = (train(task, "nn", 6, alpha=alpha, **kw) for alpha in (100.0, 1000.0))
    assert 8 < a.weight_change / b.weight_change < 12.5
    for res in (a, b):
        h = res.history.weight_change
        assert h.shape == res.history.steps.shape and h[0] == 0.0
        assert h[-1] == pytest.approx(res.weight_change, rel=1e-5)
        np.testing.assert_allclose(res.params["W0"], random_weights(20, 6, 0), atol=1e-7)  # float32
        moved = np.linalg.norm(res.params["W"] - res.params["W0"]) / np.linalg.norm(res.params["W0"])
        assert res.weight_change == pytest.approx(moved, rel=1e-6)


# ---------------------------------------------------------------- gradients, multipliers, forms
def _random_lazy(act, alpha=(7.0, 2.0, 0.5), widths=(3, 5, 1)):
    weights = [random_weights(D, n, seed=i) for i, n in enumerate(widths)]
    a0 = [np.where(np.random.default_rng(i).random(n) < 0.5, -1.0, 1.0) for i, n in enumerate(widths)]
    net = make_model("nn", act, weights, a0, [0.1, 0.2, 0.05][: len(widths)],
                   alpha=alpha if np.ndim(alpha) == 0 else alpha[: len(widths)], offset_mult=3.0,
                   dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    net.D += 0.05 * torch.randn(net.D.shape, generator=gen, dtype=torch.float64)
    net.b += 0.3 * torch.randn(net.b.shape, generator=gen, dtype=torch.float64)
    net.c += 0.3
    return net


def _lazy_autograd(net, x, y):
    """Autograd of the model written directly: c + α/N Σ (a0+b) σ(x(W0+D)) - a0 σ(x W0)."""
    D_, b_, c_ = (t.detach().clone().requires_grad_(True) for t in (net.D, net.b, net.c))
    outs = []
    lo = 0
    for k, n in enumerate(net.widths):
        sl = slice(lo, lo + n)
        lo += n
        h = (net.act.fn(x @ (net.W0[sl] + D_[sl]).t()) @ (net.a0[sl] + b_[sl])
             - net.act.fn(x @ net.W0[sl].t()) @ net.a0[sl]) / n
        outs.append(c_[k] + float(net.alphas[k]) * h)
    losses = ((torch.stack(outs, dim=1) - y[:, None]) ** 2).mean(dim=0)
    alphas = torch.as_tensor(net.alphas)
    gD, gb = torch.autograd.grad((losses / alphas**2).sum(), [D_, b_], retain_graph=True)
    loss_k = losses.sum()
    (gc,) = torch.autograd.grad(loss_k, [c_])
    return {"D": gD, "b": gb, "c": gc}


@pytest.mark.parametrize("act", ["quadratic", "tanh-like"])
@pytest.mark.parametrize("widths", [(3, 5, 1), (4,)])  # stacked, and one network alone
def test_lazy_hand_gradients_match_autograd(wishart, act, widths):
    if act == "tanh-like":
        act = Activation("tanh-like", fn=torch.tanh, derivative=lambda u: 1 - torch.tanh(u) ** 2)
    else:
        act = get_activation(act)
    net = _random_lazy(act, widths=widths)
    x, y = wishart.sample_torch(9, torch.Generator().manual_seed(2), "cpu", torch.float64)
    mine, _ = net.gradients(x, y)
    ref = _lazy_autograd(net, x, y)
    assert mine.keys() == ref.keys() == net.parameters().keys()
    for k in ref:
        np.testing.assert_allclose(mine[k].numpy(), ref[k].numpy(), rtol=1e-10, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("widths", [(3, 5, 1), (4,)])
def test_lazy_fused_step_uses_the_mean_field_multipliers(wishart, widths):
    net = _random_lazy(get_activation("quadratic"), widths=widths)
    x, y = wishart.sample_torch(9, torch.Generator().manual_seed(2), "cpu", torch.float64)
    grads, _ = net.gradients(x, y)
    before = {k: v.clone() for k, v in net.parameters().items()}
    net.step(x, y, factor=0.5)
    lr, widths = net.lr.numpy(), np.array(net.widths)
    rows_lr_n = np.repeat(lr * widths, widths)
    mult = {"c": lr * 3.0, "D": rows_lr_n[:, None], "b": rows_lr_n}
    for k, v in net.parameters().items():
        np.testing.assert_allclose(v.numpy(), before[k].numpy() - 0.5 * mult[k] * grads[k].numpy(),
                                   rtol=1e-12, atol=1e-14, err_msg=k)


def test_lazy_quadratic_form_is_the_network(wishart):
    net = _random_lazy(get_activation("quadratic"), alpha=50.0)
    x, _ = wishart.sample_torch(50, torch.Generator().manual_seed(3), "cpu", torch.float64)
    f = net.predict(x).numpy()
    xs = x.numpy()
    for k in range(net.K):
        M, c = net.quadratic_form(k)
        np.testing.assert_allclose(f[:, k], c + np.einsum("bi,ij,bj->b", xs, M, xs), rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- contract
def test_lazy_sweep_trains_each_width_and_alpha_as_a_single_run_would():
    task = QuadraticTarget.paper(d=20)
    kw = dict(steps=300, lr=0.01, seed=2, dtype="float64")
    widths, alphas = [4, 9, 4], [30.0, 2.0, 0.5]
    together = train_sweep(task, "nn", widths, alpha=alphas, **kw)
    for res, n, alpha in zip(together, widths, alphas):
        alone = train(task, "nn", n, alpha=alpha, **kw)
        np.testing.assert_allclose(res.params["W"], alone.params["W"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.history.risk, alone.history.risk, rtol=1e-9)
        assert res.settings["alpha"] == alpha == res.alpha and not res.settings["shared_a"]
        # below α = 1 the step is lr·α: the history's time says so
        assert res.history.time[-1] == pytest.approx(alone.history.time[-1])
    assert together[2].history.time[-1] == pytest.approx(0.5 * together[0].history.time[-1])


def test_small_alpha_with_positive_a0_reaches_the_nn_optimum():
    """The rich end of the dial: α = 0.1, a0_i = +1, reaches Eckart-Young (Theorem 3) on the paper's target;
    with random signs the neurons that start negative die and the risk stalls far above it."""
    task = QuadraticTarget.paper(d=30)
    optimum = theory_risk(task, "nn", 10)
    rich = train(task, "nn", 10, alpha=0.1, steps=8000, lr=0.01, a0="ones")
    assert abs(rich.risk - optimum) <= _tolerance(optimum), (rich.risk, optimum)
    assert rich.weight_change > 1.0
    signs = train(task, "nn", 10, alpha=0.1, steps=8000, lr=0.01)  # seed 0: three of ten a0_i are +1
    assert signs.risk > optimum + 0.2


def test_lazy_history_starts_at_the_trivial_risk():
    """f = c + α(h(θ) - h(θ0)) is exactly the zero predictor at the start, whatever α."""
    task = QuadraticTarget.paper(d=20)
    res = train(task, "nn", 5, alpha=1e4, steps=50, lr=0.01)
    assert res.history.risk[0] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(regime="rf", alpha=10.0), "alpha"),
    (dict(regime="nt", alpha=10.0), "alpha"),
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=float("inf")), "alpha"),
    (dict(alpha="big"), "alpha"),
    (dict(alpha=10.0, shared_a=True), "shared_a"),
    (dict(alpha=10.0, method="flow"), "alpha"),
    (dict(alpha=[1.0, 2.0]), "alpha"),
    (dict(alpha=1.0, a0="gaussian"), "a0"),
])
def test_bad_alpha_is_named(kwargs, match):
    task = QuadraticTarget.paper(d=10)
    args = dict(regime="nn", steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train(task, args.pop("regime"), 3, **args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lazy_cuda_matches_cpu(wishart):
    kw = dict(steps=3000, lr=0.01, alpha=1000.0)
    cpu = train(wishart, "nn", N, **kw)
    gpu = train(wishart, "nn", N, device="cuda", **kw)
    assert gpu.risk == pytest.approx(cpu.risk, abs=0.02)  # different random streams, same limit
    assert gpu.weight_change == pytest.approx(cpu.weight_change, rel=0.3)
