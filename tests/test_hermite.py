"""Hermite ridge targets against independent computations: Monte-Carlo moments (tolerance in
standard errors), least squares on sampled features, the quadratic target they generalise, and the
parity facts (ReLU and the quadratic activation cannot see He_3)."""

import math

import numpy as np
import pytest

from conftest import mc, random_symmetric
from lazytrain import Activation, HermiteTarget, QuadraticTarget, exact_risk, get_activation, random_weights
from lazytrain.exact.general import NTGram, lazy_solution, nt_features, rf_covariance, rf_features
from lazytrain.tasks.hermite import hermite_he

torch = pytest.importorskip("torch")


def unit_rows(rng, k, d):
    U = rng.standard_normal((k, d))
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def user_activation():
    return Activation.from_function(lambda u: np.sin(u) + 0.5 * u * u, name="sin_plus_square")


def shifted_tanh():
    return Activation.from_function(lambda u: np.tanh(u + 0.5), name="tanh_shifted")


ACTIVATIONS = {"quadratic": lambda: "quadratic", "relu": lambda: "relu", "tanh": lambda: "tanh",
               "user": user_activation}


@pytest.fixture
def task(rng):
    """Three non-orthogonal directions in d = 5, degrees 1..4."""
    U = unit_rows(rng, 3, 5)
    C = np.array([[0.6, 0.5, 0.4, 0.0], [0.0, -0.7, 0.3, 0.2], [0.3, 0.0, -0.5, 0.0]])
    return HermiteTarget(U, C)


# ---------------------------------------------------------------- the law and R0
def test_r0_and_degree_shares_against_monte_carlo(task, rng):
    """Var of each degree's part, sampled, against ℓ! c_ℓᵀ G^{∘ℓ} c_ℓ (cross terms between directions)."""
    def parts(x, y):
        he = hermite_he(x @ task.directions.T, task.degree)
        cols = [he[ell] @ task.coefficients[:, ell - 1] for ell in range(1, task.degree + 1)]
        return np.column_stack(cols + [y, y * y])

    mean, se = mc(lambda x, y: np.column_stack([parts(x, y)[:, :-2] ** 2, parts(x, y)[:, -2:]]), task,
                  400_000, rng)
    var = task.degree_variances()
    z = np.abs(mean[:-2] - var) / se[:-2]
    assert z.max() < 5, z
    assert abs(mean[-2]) < 5 * se[-2]  # E f* = 0
    assert abs(mean[-1] - task.r0) < 5 * se[-1]
    shares = task.degree_shares()
    assert list(shares) == [1, 2, 3, 4]
    assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-12)
    np.testing.assert_allclose(list(shares.values()), var / var.sum(), rtol=1e-12)


def test_sample_is_target_and_torch_has_the_same_law(task, rng):
    x, y = task.sample(1000, rng)
    np.testing.assert_allclose(y, task.target(x), rtol=1e-12, atol=1e-12)
    gen = torch.Generator().manual_seed(3)
    xt, yt = task.sample_torch(200_000, gen, dtype=torch.float64)
    yt = yt.numpy()
    np.testing.assert_allclose(yt, task.target(xt.numpy()), rtol=1e-10, atol=1e-10)
    se = np.sqrt(np.var(yt**2) / len(yt))
    assert abs(np.mean(yt**2) - task.r0) < 5 * se


def test_predictor_risk_of_a_quadratic_form_against_monte_carlo(task, rng):
    M, c = random_symmetric(rng, task.d), 0.3
    mean, se = mc(lambda x, y: (y - c - np.einsum("ni,ij,nj->n", x, M, x)) ** 2, task, 300_000, rng)
    assert abs(mean / task.r0 - task.predictor_risk(M, c)) < 5 * se / task.r0
    # the optimal offset does at least as well, and the gradient is that of the risk
    assert task.predictor_risk(M) <= task.predictor_risk(M, c)
    risk, gM, gc = task.predictor_risk_grad(M, c)
    E = random_symmetric(rng, task.d)
    h = 1e-6
    fd = (task.predictor_risk(M + h * E, c) - task.predictor_risk(M - h * E, c)) / (2 * h)
    assert abs(fd - np.sum(gM * E)) < 1e-6
    assert abs((task.predictor_risk(M, c + h) - task.predictor_risk(M, c - h)) / (2 * h) - gc) < 1e-6


# ---------------------------------------------------------------- cross moments
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_cross_moments_against_monte_carlo(task, rng, name):
    """Cov(f*, σ(u_i)) and Cov(f*, x σ'(u_i)), weights of unequal norms, within 5 SE."""
    act = get_activation(ACTIVATIONS[name]())
    W = random_weights(task.d, 3, seed=11) * np.array([[1.0], [1.7], [0.6]])
    rf, nt = task.cross_moments(W, act)

    def sample(x, y):
        return np.column_stack([y[:, None] * rf_features(x, W, act), y[:, None] * nt_features(x, W, act)])

    mean, se = mc(sample, task, 300_000, rng)
    got = np.concatenate([rf, nt.ravel()])
    z = np.abs(mean - got) / np.maximum(se, 1e-12)
    assert z.max() < 5, (name, z.max())
    assert np.abs(got).max() > 0.05


def test_cross_moments_by_degree_against_monte_carlo(task, rng):
    """Term ℓ is Cov(degree-ℓ part of f*, φ); the terms add up to the cross moments."""
    act = get_activation(user_activation())
    W = random_weights(task.d, 2, seed=4) * np.array([[1.3], [0.8]])
    rf, nt = task.cross_moments_by_degree(W, act)
    rf_all, nt_all = task.cross_moments(W, act)
    np.testing.assert_allclose(rf.sum(axis=0), rf_all, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(nt.sum(axis=0), nt_all, rtol=1e-13, atol=1e-15)

    def sample(x, y):
        he = hermite_he(x @ task.directions.T, task.degree)
        phi = np.column_stack([rf_features(x, W, act), nt_features(x, W, act)])
        return np.column_stack([(he[ell] @ task.coefficients[:, ell - 1])[:, None] * phi
                                for ell in range(1, task.degree + 1)])

    mean, se = mc(sample, task, 200_000, rng)
    got = np.concatenate([np.concatenate([rf[ell], nt[ell].ravel()]) for ell in range(task.degree)])
    z = np.abs(mean - got) / np.maximum(se, 1e-12)
    assert z.max() < 5, z.max()


# ---------------------------------------------------------------- the quadratic target is a Hermite target
@pytest.mark.parametrize("diagonal", [False, True])
def test_quadratic_target_as_hermite_gives_the_same_risks(rng, diagonal):
    d = 6
    B = np.diag(rng.exponential(size=d)) if diagonal else random_symmetric(rng, d)
    quad = QuadraticTarget(B, offset=0.9)  # not centred: the offset is absorbed
    herm = quad.as_hermite()
    assert herm.degree == 2 and not np.any(herm.coefficients[:, 0])
    assert math.isclose(herm.r0, quad.r0, rel_tol=1e-12)
    assert herm.degree_shares() == {1: 0.0, 2: 1.0}
    x = rng.standard_normal((50, d))
    np.testing.assert_allclose(herm.target(x), quad.target(x) - quad.offset - quad.trace, atol=1e-10)
    seen = []
    for N in (3, 8):
        W = random_weights(d, N, seed=N)
        for act in ("quadratic", "relu"):
            for regime, opts in (("rf", {}), ("nt", {}), ("nt", {"second_layer": True})):
                a = exact_risk(quad, regime, W, act, **opts)
                b = exact_risk(herm, regime, W, act, **opts)
                assert abs(a - b) < 1e-10, (N, act, regime, opts, a, b)
                seen.append(a)
        assert abs(exact_risk(quad, "nn", W) - exact_risk(herm, "nn", W)) < 1e-10
    assert max(seen) < 1.0 and sum(0.05 < s < 0.95 for s in seen) >= 4


@pytest.mark.parametrize("N", [2, 7])
def test_hermite_quadratic_activation_fast_path_equals_the_general_solver(task, N):
    W = random_weights(task.d, N, seed=N)
    for regime, opts in (("rf", {}), ("nt", {}), ("nt", {"second_layer": True})):
        fast = exact_risk(task, regime, W, **opts)
        general = exact_risk(task, regime, W, closed_form=False, **opts)
        assert abs(fast - general) < 1e-8, (regime, opts, fast, general)


# ---------------------------------------------------------------- parity: who can see He_3
def test_pure_he3_is_invisible_to_quadratic_and_relu_but_not_to_shifted_tanh(rng):
    d = 10
    task = HermiteTarget(unit_rows(rng, 1, d), [[0.0, 0.0, 1.0]])
    assert task.r0 == pytest.approx(6.0, rel=1e-12)
    for N in (5, 15):
        W = random_weights(d, N, seed=N)
        for act in ("quadratic", "relu"):
            for regime, opts in (("rf", {}), ("nt", {}), ("nt", {"second_layer": True})):
                for closed_form in (True, False):
                    risk = exact_risk(task, regime, W, act, closed_form=closed_form, **opts)
                    assert abs(risk - 1.0) < 1e-8, (act, regime, risk)
        for regime in ("rf", "nt"):
            assert exact_risk(task, regime, W, shifted_tanh()) < 1.0 - 1e-5
        W[0] = task.directions[0]  # a neuron along u sees He_3 through a_3 ≠ 0
        assert exact_risk(task, "rf", W, shifted_tanh()) < 0.98
        assert exact_risk(task, "nt", W, shifted_tanh()) < 0.7
    # and the quadratic-activation NN optimum cannot fit it either
    assert exact_risk(task, "nn", W) == pytest.approx(1.0, abs=1e-12)
    # GELU and softplus are "linear + even" too (their a_3, a_5 vanish: quadrature, to rounding)
    softplus = Activation.from_function(lambda u: np.logaddexp(0.0, u), name="softplus")
    for act in ("gelu", softplus):
        for regime in ("rf", "nt"):
            assert abs(exact_risk(task, regime, W, act) - 1.0) < 1e-8, (act, regime)


# ---------------------------------------------------------------- exact vs least squares on samples
def _fit_and_test(task, features, rng, n):
    x, y = task.sample(n, rng)
    F = features(x)
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(n), F]), y, rcond=None)
    xt, yt = task.sample(n, rng)
    return coef, features(xt), yt


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_exact_risk_against_least_squares(rng, name, regime):
    """d = 8: the exact optimum, evaluated on fresh samples, has the exact risk (within 4 SE); a
    least-squares fit on 100k samples does no better (paired difference) and only O(p/n) worse."""
    d, N, n = 8, 6 if regime == "nt" else 20, 100_000
    task = HermiteTarget(unit_rows(rng, 3, d), [[1.0, 0.6, 0.5], [0.0, 0.8, -0.4], [0.5, 0.0, 0.6]])
    act = get_activation(ACTIVATIONS[name]())
    W = random_weights(d, N, seed=5)
    sol = lazy_solution(task, regime, W, act, method="dense")
    exact = exact_risk(task, regime, W, act)
    assert abs(sol.risk - exact) < 1e-8
    assert 0.05 < exact < 0.999
    if regime == "rf":
        features = lambda x: rf_features(x, W, act)  # noqa: E731
        m = rf_covariance(act, W)[1]
    else:
        features = lambda x: nt_features(x, W, act)  # noqa: E731
        m = NTGram(act, W).mean_vec.ravel()
    c_opt = -sol.coef @ m  # E f* = 0
    coef, Ft, yt = _fit_and_test(task, features, rng, n)
    e_opt = (yt - c_opt - Ft @ sol.coef) ** 2 / task.r0
    e_fit = (yt - coef[0] - Ft @ coef[1:]) ** 2 / task.r0
    se = e_opt.std() / math.sqrt(len(yt))
    assert abs(e_opt.mean() - exact) < 4 * se, (e_opt.mean(), exact, se)
    diff = e_fit - e_opt
    se_diff = diff.std() / math.sqrt(len(yt))
    p = Ft.shape[1] + 1
    assert diff.mean() > -4 * se_diff
    assert diff.mean() < 4 * se_diff + 3 * p / len(yt)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("directions, coefficients, match", [
    (np.ones(4) / 2, [[1.0]], "directions must be a non-empty 2-D array, got shape \\(4,\\)"),
    (np.ones((2, 2, 2)), [[1.0]], "directions must be a non-empty 2-D array, got shape \\(2, 2, 2\\)"),
    ([[1.0, 0.0], [0.6, 0.7]], [[1.0], [1.0]], "directions: row 1 has norm 0.92"),
    ([[1.0, 0.0], [np.nan, 0.0]], [[1.0], [1.0]], "directions must be finite, got nan at \\[1, 0\\]"),
    ([[1.0, 0.0]], [[1.0, np.nan]], "coefficients must be finite, got nan at \\[0, 1\\]"),
    ([[1.0, 0.0]], [[1.0] * 7], "coefficients has 7 columns, i.e. degree L = 7; the highest degree allowed is 6"),
    ([[1.0, 0.0]], [[1.0], [1.0]], "coefficients must have one row per direction, shape \\(1, L\\), got shape \\(2, 1\\)"),
    ([[1.0, 0.0], [-1.0, 0.0]], [[0.0, 1.0], [0.0, -1.0]], "the target is constant"),
])
def test_bad_input_is_named(directions, coefficients, match):
    with pytest.raises(ValueError, match=match):
        HermiteTarget(directions, coefficients)


def test_degree_six_is_allowed(rng):
    task = HermiteTarget(unit_rows(rng, 1, 3), [[0, 0, 0, 0, 0, 1.0]])
    assert task.r0 == pytest.approx(720.0)


# ---------------------------------------------------------------- training and specs
def test_sgd_on_a_hermite_target_ends_just_above_the_exact_optimum(rng):
    """RF is convex: SGD with ReLU ends within a few hundredths above the exact risk; with no closed
    form the risk is measured by Monte Carlo on a fixed test sample and carries its standard error."""
    from lazytrain import train

    d, N = 8, 12
    task = HermiteTarget(unit_rows(rng, 2, d), [[0.8, 0.6, 0.2], [0.4, -0.7, 0.0]])
    res = train(task, "rf", N, activation="relu", steps=4000, lr=0.02, seed=1, n_test=100_000)
    exact = exact_risk(task, "rf", random_weights(d, N, seed=1), "relu")
    assert exact < 0.8
    assert res.risk_method == "monte_carlo" and 0 < res.risk_se < 0.02
    assert exact - 4 * res.risk_se <= res.risk <= exact + 0.04, (res.risk, exact, res.risk_se)
    again = train(task, "rf", N, activation="relu", steps=4000, lr=0.02, seed=1, n_test=100_000)
    assert again.risk == res.risk  # the test sample is fixed by the seed


def test_quadratic_activation_sgd_on_a_hermite_target_has_the_exact_risk(rng):
    """c + xᵀMx: the exact risk (predictor_risk) equals a Monte-Carlo evaluation of the same model."""
    from lazytrain import train

    task = HermiteTarget(unit_rows(rng, 2, 6), [[0.5, 1.0], [0.0, 0.7]])
    res = train(task, "nn", 4, steps=3000, lr=0.01)
    assert res.risk_method == "exact"
    M, c = res.quadratic_form
    x, y = task.sample(200_000, rng)
    err = (y - c - np.einsum("ni,ij,nj->n", x, M, x)) ** 2 / task.r0
    assert abs(err.mean() - res.risk) < 5 * err.std() / math.sqrt(len(err))
    assert res.risk < 1 - task.degree_shares()[1] + 0.05  # the linear part stays, the rest is fitted


def test_hermite_spec_runs_and_its_identity_is_the_recipe(tmp_path):
    from lazytrain.experiments import compute_point, expand, validate_spec

    spec = validate_spec({"name": "h", "task": {"type": "hermite", "d": 10, "seed": 3,
                                                "coefficients": [[0.0, 1.0, 1.0], [0.5, 0.0, 0.0]]},
                          "regimes": ["rf", "nt"], "activations": ["relu"], "n_neurons": [5],
                          "kinds": ["exact"], "seeds": [0]})
    points = expand(spec)
    assert {p.task_family for p in points} == {"hermite"}
    task = spec.task.build()
    assert np.allclose(task.directions @ task.directions.T, np.eye(2), atol=1e-12)
    for p in points:
        risk = compute_point(p, pin=False)["risk"]
        assert risk == pytest.approx(exact_risk(task, p.regime, random_weights(10, 5, seed=0), "relu"), abs=1e-12)
    other = validate_spec({**spec.model_dump(mode="json"), "task": {**spec.task.model_dump(mode="json"), "seed": 4}})
    assert {p.key for p in expand(other)}.isdisjoint({p.key for p in points})
    with pytest.raises(Exception, match="same number of degrees"):
        validate_spec({**spec.model_dump(mode="json"),
                       "task": {"type": "hermite", "d": 10, "coefficients": [[1.0], [1.0, 2.0]]}})


def test_population_flow_on_a_hermite_target_reaches_the_nn_optimum(rng):
    """The flow uses predictor_risk_grad; with N ≥ rank B₂ it fits the degree-2 part exactly."""
    from lazytrain import train

    task = HermiteTarget(unit_rows(rng, 3, 8), [[0.5, 1.0, 0.3], [0.0, 0.8, 0.0], [0.2, 0.6, 0.0]])
    res = train(task, "nn", 3, method="flow", steps=1500)
    optimum = exact_risk(task, "nn", random_weights(8, 3, seed=0))
    assert optimum == pytest.approx(1 - task.degree_shares()[2], abs=1e-12)
    assert res.risk_method == "exact" and abs(res.risk - optimum) < 1e-3
