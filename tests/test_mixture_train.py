"""SGD and the population flow on the Gaussian mixture reach the rank-N optimum."""

import numpy as np
import pytest

from lazytrain import GaussianMixture, exact_risk, random_weights, train, train_sweep


def _tolerance(target):
    return max(0.02, 0.1 * target)


def _rank_n_optimum(task, n):
    return exact_risk(task, "nn", random_weights(task.d, n))


@pytest.mark.parametrize("n", [3, 10])
def test_flow_reaches_the_rank_n_optimum(n):
    task = GaussianMixture.paper(d=30, frob2=3.0)
    res = train(task, "nn", n, method="flow", steps=1500)
    assert res.risk_method == "exact"
    assert abs(res.risk - _rank_n_optimum(task, n)) < 1e-3
    assert np.all(np.diff(res.history.risk) <= 1e-12)


def test_sgd_nn_approaches_the_rank_n_optimum_small_d():
    task = GaussianMixture.paper(d=20, frob2=1.0)
    widths = [3, 8]
    for n, res in zip(widths, train_sweep(task, "nn", widths, steps=3000, lr=0.01)):
        optimum = _rank_n_optimum(task, n)
        assert res.risk >= optimum - 1e-9  # the optimum is a lower bound for any rank-N network
        assert res.risk - optimum <= _tolerance(optimum), (n, res.risk, optimum)
        assert res.weight_change > 0.1


@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_sgd_lazy_regimes_end_near_their_exact_risk_small_d(regime):
    task = GaussianMixture.paper(d=20, frob2=1.0)
    res = train(task, regime, 6, steps=3000, lr=0.01)
    exact = exact_risk(task, regime, random_weights(20, 6, seed=0))  # train's W for seed=0
    assert exact - 1e-9 <= res.risk <= exact + 0.01


@pytest.mark.slow
def test_sgd_nn_approaches_the_rank_n_optimum_at_d450():
    """The paper's scale with Figure 2's SGD settings (60k steps; a few minutes on one core)."""
    from lazytrain.experiments import preset

    settings = preset("fig2").training
    task = GaussianMixture.paper()
    widths = settings.n_neurons[:2]  # N = 30 and 90: the widest take several times longer
    lrs = [settings.lr_at(settings.lr, n) for n in widths]
    for n, res in zip(widths, train_sweep(task, "nn", widths, steps=settings.steps, lr=lrs)):
        optimum = _rank_n_optimum(task, n)
        assert optimum - 1e-9 <= res.risk <= optimum + _tolerance(optimum), (n, res.risk, optimum)
