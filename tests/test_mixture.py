"""Gaussian mixture: task, exact risks, theory, checked against independent computations."""

import numpy as np
import pytest
import scipy.optimize

from lazytrain import GaussianMixture, exact_risk, random_weights, theory_risk
from lazytrain.exact.mixture import nt_kappa, nt_kappa_dense


def _random_delta(d, op, seed):
    """A dense symmetric Δ with ‖Δ‖_op = op and eigenvalues of both signs."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    A = A + A.T
    return A * op / np.max(np.abs(np.linalg.eigvalsh(A)))


@pytest.fixture(scope="module")
def dense_task():
    return GaussianMixture(_random_delta(5, 0.8, seed=1))


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "Delta, words",
    [
        (np.diag([0.5, 1.2]), ["operator norm", "1.2", "exceeds the limit by 0.2"]),
        (np.diag([0.5, -1.0]), ["operator norm", "exceeds the limit by 0"]),
        (np.array([[0.1, 0.2], [0.0, 0.1]]), ["Delta must be symmetric", "0.2"]),
        (np.array([[0.1, np.nan], [np.nan, 0.1]]), ["Delta must be finite", "nan"]),
        (np.zeros((2, 3)), ["Delta must be square", "(2, 3)"]),
        (np.zeros(3), ["Delta must be a 2-D array"]),
    ],
)
def test_invalid_delta_is_named(Delta, words):
    with pytest.raises(ValueError) as err:
        GaussianMixture(Delta)
    for word in words:
        assert word in str(err.value)


def test_paper_preset_is_in_the_small_delta_regime():
    task = GaussianMixture.paper()
    assert task.d == 450 and task.is_diagonal and task.r0 == 1.0
    assert task.frob2 == pytest.approx(4.0)
    assert 0.2 < task.op_norm < 0.45
    assert np.all(task.eigenvalues >= 0) and 0.5 < task.tau < 0.8
    with pytest.raises(ValueError, match="frob2"):
        GaussianMixture.paper(frob2=-1)


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("structure", ["dense", "diagonal"])
def test_sample_has_the_class_covariances(dense_task, backend, structure):
    n = 200_000
    task = dense_task if structure == "dense" else GaussianMixture(np.diag([0.7, -0.4, 0.0, 0.2]))
    if backend == "numpy":
        x, y = task.sample(n, rng=3)
    else:
        torch = pytest.importorskip("torch")
        x, y = task.sample_torch(n, torch.Generator().manual_seed(3), dtype=torch.float64)
        x, y = x.numpy(), y.numpy()
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert abs(y.mean()) < 4 / np.sqrt(n)
    for sign in (+1, -1):
        xs = x[y == sign]
        cov = xs.T @ xs / len(xs)
        target = np.eye(task.d) + sign * task.Delta
        # entrywise standard error of a Gaussian second moment: sqrt((Σ_ii Σ_jj + Σ_ij²)/n)
        se = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target**2) / len(xs))
        assert np.max(np.abs(cov - target) / se) < 5


# ---------------------------------------------------------------- predictor risk
@pytest.mark.parametrize("c", [None, 0.7])
def test_predictor_risk_matches_monte_carlo(dense_task, c):
    rng = np.random.default_rng(4)
    M = 0.2 * rng.standard_normal((5, 5))
    x, y = dense_task.sample(400_000, rng=5)
    offset = -np.trace(M) if c is None else c
    loss = (y - offset - np.einsum("ni,ij,nj->n", x, M, x)) ** 2
    se = loss.std() / np.sqrt(len(loss))
    assert abs(loss.mean() - dense_task.predictor_risk(M, c)) < 4 * se


def test_risk_gradient_matches_finite_differences(dense_task):
    rng = np.random.default_rng(6)
    M, E = rng.standard_normal((2, 5, 5))
    E = E + E.T
    c, h = 0.3, 1e-5
    risk, grad_M, grad_c = dense_task.predictor_risk_grad(M, c)
    assert risk == pytest.approx(dense_task.predictor_risk(M, c), rel=1e-12)
    fd_M = (dense_task.predictor_risk(M + h * E, c) - dense_task.predictor_risk(M - h * E, c)) / (2 * h)
    fd_c = (dense_task.predictor_risk(M, c + h) - dense_task.predictor_risk(M, c - h)) / (2 * h)
    assert np.sum(grad_M * E) == pytest.approx(fd_M, rel=1e-7)
    assert grad_c == pytest.approx(fd_c, rel=1e-7)


# ---------------------------------------------------------------- exact risks
def _least_squares_risk(task, features_of, n=200_000, seed=7):
    """Fit c + Σ θ_k φ_k(x) by least squares on n samples; return the fit's exact risk.

    ``features_of(x)`` returns (Φ, to_M) with Φ of shape (n, p) and to_M(θ) the
    matrix of the quadratic form that θ represents.
    """
    x, y = task.sample(n, rng=seed)
    Phi, to_M = features_of(x)
    A = np.column_stack([np.ones(n), Phi])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    return task.predictor_risk(to_M(theta[1:]), theta[0])


def _rf_features(W):
    return lambda x: ((x @ W.T) ** 2, lambda a: (W.T * a) @ W)


def _nt_features(W):
    N, d = W.shape

    def features(x):
        Phi = ((x @ W.T)[:, :, None] * x[:, None, :]).reshape(len(x), N * d)
        return Phi, lambda b: W.T @ b.reshape(N, d)

    return features


def _all_quadratic_features(d):
    iu = np.triu_indices(d)

    def features(x):
        def to_M(t):
            M = np.zeros((d, d))
            M[iu] = t
            return (M + M.T) / 2

        return x[:, iu[0]] * x[:, iu[1]], to_M

    return features


@pytest.mark.parametrize("regime, n_neurons", [("rf", 3), ("rf", 12), ("nt", 2), ("nt", 4), ("nn", 5), ("nn", 7)])
def test_exact_matches_least_squares_over_the_class(dense_task, regime, n_neurons):
    d = dense_task.d
    W = random_weights(d, n_neurons, seed=n_neurons)
    features = {"rf": _rf_features(W), "nt": _nt_features(W), "nn": _all_quadratic_features(d)}[regime]
    fitted = _least_squares_risk(dense_task, features)
    exact = exact_risk(dense_task, regime, W)
    # the fit is in the class, so it cannot beat the optimum; its excess risk is O(p/n)
    assert exact - 1e-9 <= fitted <= exact + 2e-3
    assert exact < 0.97  # the problem is not trivial


@pytest.mark.parametrize("n_neurons", [1, 2, 3])
def test_exact_nn_is_the_rank_n_optimum(dense_task, n_neurons):
    """Direct numerical minimisation over M = U diag(a) Uᵀ (rank ≤ N, either sign)."""
    d, N = dense_task.d, n_neurons
    rng = np.random.default_rng(8)

    def risk(p):
        U, a = p[: d * N].reshape(d, N), p[d * N :]
        return dense_task.predictor_risk((U * a) @ U.T)

    best = min(
        scipy.optimize.minimize(risk, rng.standard_normal(d * N + N) * 0.3, method="BFGS", options={"gtol": 1e-9}).fun
        for _ in range(6)
    )
    W = random_weights(d, N, seed=0)
    assert exact_risk(dense_task, "nn", W) == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("n_neurons", [1, 3, 5, 6, 8])
def test_nt_cg_matches_dense_solve(n_neurons):
    task = GaussianMixture(_random_delta(6, 0.9, seed=2))
    W = random_weights(6, n_neurons, seed=n_neurons)
    assert nt_kappa(task, W) == pytest.approx(nt_kappa_dense(task, W), rel=1e-8)


def test_full_rank_classes_reach_the_best_quadratic_predictor(dense_task):
    lam = dense_task.eigenvalues
    best = 1 / (1 + 0.5 * np.sum(lam**2 / (1 + lam**2)))
    W = random_weights(5, 5, seed=0)
    assert exact_risk(dense_task, "nt", W) == pytest.approx(best, rel=1e-9)
    assert exact_risk(dense_task, "nn", W) == pytest.approx(best, rel=1e-12)
    # RF needs N ≥ d(d+1)/2 = 15 generic features to span all quadratic forms
    assert exact_risk(dense_task, "rf", random_weights(5, 15, seed=0)) == pytest.approx(best, rel=1e-8)
    assert exact_risk(dense_task, "rf", W) > best + 0.01


def test_exact_nn_rejects_other_activations(dense_task):
    # RF and NT take any activation (tests/test_general_exact.py); the rank-N optimum needs u²
    with pytest.raises(ValueError, match=r"no NN optimum for activation 'relu'.*needs σ\(u\) = u² \+ c0"):
        exact_risk(dense_task, "nn", random_weights(5, 2), activation="relu")


# ---------------------------------------------------------------- theory vs exact
def _theory_vs_exact(grid, seed=0):
    task = GaussianMixture.paper(seed=seed)
    worst = {}
    for N in grid:
        W = random_weights(task.d, N, seed=1000 + N)
        for regime in ("rf", "nt", "nn"):
            gap = abs(theory_risk(task, regime, N) - exact_risk(task, regime, W))
            worst[regime] = max(worst.get(regime, 0.0), gap)
    return worst


def test_theory_matches_exact_at_d450_quick():
    worst = _theory_vs_exact([30, 210, 450])
    assert max(worst.values()) < 0.02, worst


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_theory_matches_exact_at_d450_over_the_grid(seed):
    worst = _theory_vs_exact(range(30, 451, 30), seed=seed)
    assert max(worst.values()) < 0.02, worst


def test_exact_rf_follows_the_derived_factor_not_the_posters():
    """κ_RF(N)/κ_RF(d): derived ρ/(1+ρ) → 1/4 at ρ = 1/3 relative to 1/2; poster ρ/(1+2ρ) → 0.6."""
    task = GaussianMixture.paper()
    kappa = {N: 1 / exact_risk(task, "rf", random_weights(450, N, seed=N)) - 1 for N in (150, 450)}
    ratio = kappa[150] / kappa[450]
    derived = (1 / 3) / (4 / 3) / 0.5
    poster = (1 / 3) / (5 / 3) / (1 / 3)
    assert abs(ratio - derived) < 0.05 < abs(ratio - poster)


def test_theory_options_are_checked():
    task = GaussianMixture.paper(d=50)
    assert theory_risk(task, "rf", 50, rf_factor="poster") > theory_risk(task, "rf", 50)
    with pytest.raises(ValueError, match="rf_factor"):
        theory_risk(task, "rf", 50, rf_factor="other")
    finite = theory_risk(task, "nt", 10, finite_d=True)
    assert finite == pytest.approx(theory_risk(task, "nt", 10), abs=0.02)


# ---------------------------------------------------------------- fitted predictors and their 0-1 error
@pytest.mark.parametrize("regime", ["rf", "nt", "nn"])
@pytest.mark.parametrize("n_neurons", [2, 5, 8])
def test_best_predictor_attains_the_exact_risk(dense_task, regime, n_neurons):
    from lazytrain.exact.mixture import best_predictor

    W = random_weights(5, n_neurons, seed=n_neurons)
    M, c = best_predictor(dense_task, regime, W)
    assert dense_task.predictor_risk(M, c) == pytest.approx(exact_risk(dense_task, regime, W), abs=1e-10)
    if regime == "rf":  # M must lie in the class: span{w_i w_iᵀ}
        basis = np.stack([np.outer(w, w).ravel() for w in W], axis=1)
        coef = np.linalg.lstsq(basis, M.ravel(), rcond=None)[0]
        assert np.allclose(basis @ coef, M.ravel(), atol=1e-10)
    if regime == "nn":
        assert np.linalg.matrix_rank(M, tol=1e-10) <= n_neurons


@pytest.mark.parametrize("case", ["random", "rank1", "rank2", "best-nt"])
def test_predictor_error_matches_monte_carlo(dense_task, case):
    from lazytrain.exact.mixture import best_predictor

    rng = np.random.default_rng(9)
    M, c = {
        "random": (0.2 * rng.standard_normal((5, 5)), 0.3),
        "rank1": (np.diag([1.0, 0, 0, 0, 0]), -0.5),
        "rank2": (np.diag([1.0, -2.0, 0, 0, 0]), 0.2),
        "best-nt": best_predictor(dense_task, "nt", random_weights(5, 2, seed=1)),
    }[case]
    x, y = dense_task.sample(400_000, rng=10)
    wrong = (np.sign(c + np.einsum("ni,ij,nj->n", x, M, x)) != y).astype(float)
    se = wrong.std() / np.sqrt(len(wrong))
    assert abs(wrong.mean() - dense_task.predictor_error(M, c)) < 4 * se
