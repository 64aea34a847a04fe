"""Theory and exact risks for the quadratic target, against independent computations."""

import warnings

import numpy as np
import pytest

from conftest import random_symmetric
from lazytrain import QuadraticTarget, exact_risk, random_weights, theory_risk
from lazytrain.theory.quadratic import nt_expected_finite_d


def lstsq_population_risk(task, features, to_predictor, n, rng):
    """Fit by least squares on n samples, then return the fit's exact population risk."""
    x, y = task.sample(n, rng)
    F = features(x)
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(n), F]), y, rcond=None)
    M = to_predictor(coef[1:])
    return task.predictor_risk(M, coef[0])


@pytest.fixture
def small_task(rng):
    return QuadraticTarget(random_symmetric(rng, 6, psd=True), offset=1.5)


def test_rf_exact_against_least_squares(small_task, rng):
    W = random_weights(6, 5, seed=2)
    exact = exact_risk(small_task, "rf", W)
    fit = lstsq_population_risk(
        small_task, lambda x: (x @ W.T) ** 2,
        lambda a: np.einsum("i,ij,ik->jk", a, W, W), 200_000, rng)
    # least squares on finitely many samples can only be worse, by O(p/n)
    assert exact <= fit + 1e-12
    assert fit - exact < 1e-3


@pytest.mark.parametrize("second_layer", [False, True])
def test_nt_exact_against_least_squares(small_task, rng, second_layer):
    d, N = 6, 3
    W = random_weights(d, N, seed=5)

    def features(x):
        u = x @ W.T  # (n, N)
        tangent = (2 * u)[:, :, None] * x[:, None, :]  # x_k σ'(w_i·x)
        F = tangent.reshape(len(x), -1)
        return np.column_stack([F, u**2]) if second_layer else F

    def to_predictor(coef):
        b = coef[: N * d].reshape(N, d)
        M = W.T @ b + b.T @ W  # Σ w_i b_iᵀ + b_i w_iᵀ
        if second_layer:
            M = M + np.einsum("i,ij,ik->jk", coef[N * d:], W, W)
        return M

    exact = exact_risk(small_task, "nt", W, second_layer=second_layer)
    fit = lstsq_population_risk(small_task, features, to_predictor, 200_000, rng)
    assert exact <= fit + 1e-12
    assert fit - exact < 2e-3


def test_nn_is_eckart_young_and_below_nt(rng):
    B = random_symmetric(rng, 10, psd=True)
    task = QuadraticTarget(B)
    lam, V = np.linalg.eigh(B)
    for N in (1, 3, 7, 10, 12):
        top = np.argsort(-np.abs(lam))[:N]
        M = (V[:, top] * lam[top]) @ V[:, top].T
        W = random_weights(10, N, seed=N)
        nn = exact_risk(task, "nn", W)
        assert nn == pytest.approx(task.predictor_risk(M), abs=1e-12)
        assert nn == theory_risk(task, "nn", N)
        assert nn <= exact_risk(task, "nt", W) + 1e-12  # Cauchy interlacing for B ⪰ 0
    assert exact_risk(task, "nt", random_weights(10, 10, seed=0)) == pytest.approx(0, abs=1e-12)


def test_nt_finite_d_expectation_against_average_over_draws(rng):
    d, N, draws = 12, 5, 3000
    B = random_symmetric(rng, d, psd=True) + 0.5 * np.eye(d)
    task = QuadraticTarget(B)
    vals = np.array([exact_risk(task, "nt", random_weights(d, N, seed=s)) for s in range(draws)])
    expected = theory_risk(task, "nt", N, finite_d=True)
    assert abs(vals.mean() - expected) < 4 * vals.std() / np.sqrt(draws)


def test_nt_finite_d_tends_to_the_asymptotic_formula():
    d = 20_000
    for rho in (0.1, 0.5, 0.9):
        N = int(rho * d)
        fin = nt_expected_finite_d(d, N, frob2=1.0, trace=np.sqrt(0.4 * d))
        p = 1 - rho
        assert fin == pytest.approx(p * p + rho * p * 0.4, abs=1e-3)


def test_theory_and_exact_agree_at_the_papers_scale():
    task = QuadraticTarget.paper()
    for N in range(30, 451, 30):
        W = random_weights(450, N, seed=N)
        for regime in ("rf", "nt"):
            assert abs(exact_risk(task, regime, W) - theory_risk(task, regime, N)) <= 0.01
        assert exact_risk(task, "nn", W) == theory_risk(task, "nn", N)
    # paper.md §2.5 derived table, independent arithmetic
    assert theory_risk(task, "rf", 450) == pytest.approx(0.7556, abs=1e-4)
    assert theory_risk(task, "nt", 90) == pytest.approx(0.7184, abs=2e-4)
    assert theory_risk(task, "nn", 30) == pytest.approx(0.4972, abs=1e-4)


def test_rf_general_covariance_theory_against_exact():
    d, N = 400, 400
    rng = np.random.default_rng(1)
    task = QuadraticTarget(np.diag(rng.exponential(size=d)) / np.sqrt(d))
    gamma_diag = np.diag(task.B).copy()  # weights aligned with the target
    gamma_diag /= gamma_diag.sum()
    W = random_weights(d, N, seed=3, cov=gamma_diag)
    theo = theory_risk(task, "rf", N, cov=gamma_diag)
    iso = theory_risk(task, "rf", N)
    assert abs(exact_risk(task, "rf", W) - theo) < 0.01
    assert abs(theo - iso) > 0.02  # the covariance matters
    # scale invariance of the RF class: Γ and 5Γ give the same risk
    assert theory_risk(task, "rf", N, cov=5 * gamma_diag) == pytest.approx(theo)
    with pytest.raises(ValueError, match="isotropic"):
        theory_risk(task, "nt", N, cov=gamma_diag)


def test_rf_exact_survives_a_singular_gram():
    # N > d(d+1)/2: the Gram matrix is singular; the risk must still be 0, not NaN
    task = QuadraticTarget(np.diag([1.0, 2.0, 3.0]))
    W = random_weights(3, 12, seed=0)
    W = np.vstack([W, W[:3]])  # exact duplicates too
    assert exact_risk(task, "rf", W) == pytest.approx(0.0, abs=1e-9)


def test_nn_theory_warns_for_indefinite_B():
    task = QuadraticTarget(np.diag([1.0, -2.0, 0.5]))
    with pytest.warns(UserWarning, match="positive semi-definite"):
        val = theory_risk(task, "nn", 1)
    assert val == pytest.approx((1 + 0.25) / (1 + 4 + 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theory_risk(QuadraticTarget(np.eye(3)), "nn", 1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda t: theory_risk(t, "xx", 3), "regime must be one of"),
        (lambda t: theory_risk(t, "nt", 0), "n_neurons must be a positive integer"),
        (lambda t: theory_risk(t, "rf", 3, activation="swish"), "activation must be one of"),
        (lambda t: exact_risk(t, "rf", np.ones((3, 5))), r"W must have shape \(n_neurons, d\)"),
        (lambda t: exact_risk(t, "rf", np.full((3, 4), np.nan)), "W must be finite"),
        (lambda t: exact_risk(t, "RFX", np.ones((3, 4))), "regime"),
        (lambda t: exact_risk("not a task", "rf", np.ones((3, 4))), "task must be"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call(QuadraticTarget(np.eye(4)))
