"""The Mei-Montanari ridge-RF formula (arXiv 1908.05355) against fit averaged over seeds."""

import numpy as np
import pytest

from lazytrain import QuadraticTarget, fit, get_activation, random_weights, theory_risk
from lazytrain.theory.ridge import activation_constants, bias_variance


def traceless_target(d, seed=0):
    """B = diag(γ - mean γ)/√d, γ ~ Exp(1): τ = 0, so the formula applies (docs/theory.md)."""
    g = np.random.default_rng(seed).exponential(1, d)
    return QuadraticTarget(np.diag((g - g.mean()) / np.sqrt(d)))


def test_limits_of_the_formula():
    # huge ridge: the null predictor, B = 1, V = 0
    B, V = bias_variance(0.8, 1.5, 2.0, 1e6)
    assert B == pytest.approx(1.0, abs=1e-4) and V == pytest.approx(0.0, abs=1e-4)
    # ridgeless and under-parametrised (ψ1 < ψ2): least squares on ψ1 d Gaussian-equivalent
    # features fitting noise has variance ψ1/(ψ2 - ψ1), whatever ζ
    for zeta in (0.3, 1.0, 2.0):
        for psi1, psi2 in ((0.5, 2.0), (1.0, 3.0), (2.0, 2.5)):
            _, V = bias_variance(zeta, psi1, psi2, 1e-12)
            assert V == pytest.approx(psi1 / (psi2 - psi1), rel=1e-4)


def test_relu_constants():
    mu0, mu1, mustar = activation_constants(get_activation("relu"))
    assert mu0 == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-6)
    assert mu1 == pytest.approx(0.5, rel=1e-6)
    assert mustar**2 == pytest.approx(0.5 - 0.25 - 1 / (2 * np.pi), rel=1e-6)


def _compare(d, cases, seeds):
    task = traceless_target(d)
    n = 2 * d
    for ridge, psi1 in cases:
        N = int(psi1 * d)
        risks = [fit(task, "rf", random_weights(d, N, seed=s), n, ridge=ridge, activation="relu",
                     seed=100 + s).risk for s in range(seeds)]
        theory = theory_risk(task, "rf", N, "relu", n_samples=n, ridge=ridge)
        se = np.std(risks, ddof=1) / np.sqrt(seeds)
        assert abs(theory - np.mean(risks)) <= 3 * se + 0.02 * theory, (ridge, psi1, theory, risks)


def test_formula_matches_fit_at_d100():
    _compare(100, [(1e-3, 0.5), (1e-3, 2.0), (1e-4, 2.0), (1e-4, 6.0), (1e-8, 0.5), (1e-8, 6.0)], 5)


@pytest.mark.slow
def test_formula_matches_fit_at_d300():
    _compare(300, [(lam, psi1) for lam in (1e-8, 1e-4, 1e-3) for psi1 in (0.5, 1.5, 3.0, 6.0)]
             + [(1e-4, 2.0), (1e-3, 2.0)], 5)


def test_bad_input():
    task = traceless_target(20)
    with pytest.raises(ValueError, match="regime 'rf'"):
        theory_risk(task, "nt", 10, "relu", n_samples=40, ridge=1e-3)
    with pytest.raises(ValueError, match="ridge"):
        theory_risk(task, "rf", 10, "relu", n_samples=40, ridge=0.0)
    with pytest.raises(ValueError, match="n_samples"):
        theory_risk(task, "rf", 10, "relu", n_samples=0, ridge=1e-3)
    with pytest.raises(ValueError, match="linear"):
        theory_risk(task, "rf", 10, lambda u: 2 * u, n_samples=40, ridge=1e-3)


def test_warns_when_the_radial_part_is_ignored():
    with pytest.warns(UserWarning, match="radial"):
        theory_risk(QuadraticTarget.paper(d=50), "rf", 50, "relu", n_samples=100, ridge=1e-3)


def test_formula_with_a_linear_part_matches_fit():
    """HermiteTarget He1 + 0.3 He2 along one direction: F1² (the bias term B) enters too."""
    from lazytrain.tasks import HermiteTarget

    d, n, seeds = 100, 200, 8
    u = np.random.default_rng(3).standard_normal((1, d))
    task = HermiteTarget(u / np.linalg.norm(u), [[1.0, 0.3]])
    for ridge, psi1 in ((1e-3, 2.0), (1e-3, 6.0), (1e-2, 0.5)):
        N = int(psi1 * d)
        risks = [fit(task, "rf", random_weights(d, N, seed=s), n, ridge=ridge, activation="relu",
                     seed=s).risk for s in range(seeds)]
        theory = theory_risk(task, "rf", N, "relu", n_samples=n, ridge=ridge)
        se = np.std(risks, ddof=1) / np.sqrt(seeds)
        assert abs(theory - np.mean(risks)) <= 3 * se + 0.03 * theory, (ridge, psi1, theory, risks)
    # the linear part is learnable: with a large N and enough data the risk falls well below 1
    assert theory_risk(task, "rf", 20 * d, "relu", n_samples=40 * d, ridge=1e-4) < 0.3
