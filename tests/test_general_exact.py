"""Exact RF/NT risks for any activation (lazytrain.exact.general), against
independent computations: Monte-Carlo moment estimates (tolerance in standard
errors), least squares on sampled features evaluated on fresh samples, the
closed forms for the quadratic activation, torch autograd's linearisation,
and the symmetry facts (odd σ cannot see an even target)."""

import math

import numpy as np
import pytest

from conftest import random_symmetric
from lazytrain import Activation, GaussianMixture, QuadraticTarget, exact_risk, get_activation, random_weights
from lazytrain.exact._linalg import psd_solve
from lazytrain.exact.general import SolverAccuracyError, NTGram, nt_explained, nt_features, rf_covariance, rf_features

torch = pytest.importorskip("torch")


@pytest.fixture
def task(rng):
    return QuadraticTarget(random_symmetric(rng, 4, psd=True) + 0.3 * np.eye(4), offset=0.7)


def mc_mean_and_se(sample_fn, n, rng, chunk=20_000):
    """Mean and standard error of sample_fn(x, y) (rows are samples) over n draws."""
    total = total_sq = 0.0
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        s = sample_fn(*TASK.sample(m, rng))
        total = total + s.sum(axis=0)
        total_sq = total_sq + (s * s).sum(axis=0)
    mean = total / n
    return mean, np.sqrt(np.maximum(total_sq / n - mean**2, 0) / n)


TASK = None  # set by the moment test (mc_mean_and_se samples from it)


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_moments_against_monte_carlo(task, rng, name):
    """Centred Gram, means and cross moments of [NT features, RF features], entrywise within 5 SE."""
    global TASK
    TASK = task
    act = get_activation(name)
    W = random_weights(4, 3, seed=7) * np.array([[1.0], [1.6], [0.7]])
    K = NTGram(act, W, second_layer=True)
    m = np.concatenate([K.mean_vec.ravel(), K.mean_sc])
    rf_v, nt_v = task.cross_moments(W, act)
    v = np.concatenate([nt_v.ravel(), rf_v])
    Kd = K.dense()
    y_mean = task.offset + task.trace

    def samples(x, y):
        phi = nt_features(x, W, act, second_layer=True) - m
        return np.column_stack([
            (phi[:, :, None] * phi[:, None, :]).reshape(len(x), -1), phi, (y - y_mean)[:, None] * phi])

    mean, se = mc_mean_and_se(samples, 300_000, rng)
    p = len(m)
    got = np.concatenate([Kd.ravel(), np.zeros(p), v])
    z = np.abs(mean - got) / np.maximum(se, 1e-12)
    assert z.max() < 5.0, (np.argmax(z), z.max())
    # the RF Gram is the trailing block of the second-layer Gram
    K_rf, m_rf = rf_covariance(act, W)
    np.testing.assert_allclose(Kd[-3:, -3:], K_rf, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(K.mean_sc, m_rf, rtol=1e-12)


def _fit_and_test(task, features, rng, n=200_000):
    """Least squares (with offset) on n samples; returns the fit and a fresh test sample."""
    x, y = task.sample(n, rng)
    F = features(x)
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(n), F]), y, rcond=None)
    xt, yt = task.sample(n, rng)
    return coef, features(xt), yt


@pytest.mark.parametrize("name", ["relu", "gelu"])
@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_exact_risk_against_least_squares(task, rng, name, regime):
    """The exact optimum, evaluated on fresh samples, has the exact risk (within 4 SE); a least-squares
    fit on 200k samples does no better on the same test sample (paired difference) and only O(p/n) worse."""
    act = get_activation(name)
    W = random_weights(4, 5, seed=3)
    rf_v, nt_v = task.cross_moments(W, act)
    if regime == "rf":
        K, m = rf_covariance(act, W)
        beta = psd_solve(K, rf_v)
        features = lambda x: rf_features(x, W, act)  # noqa: E731
    else:
        G = NTGram(act, W)
        beta = nt_explained(act, W, nt_v, method="dense").coef
        m = G.mean_vec.ravel()
        features = lambda x: nt_features(x, W, act)  # noqa: E731
    exact = exact_risk(task, regime, W, activation=name)
    assert 0.05 < exact < 0.999
    c_opt = task.offset + task.trace - beta @ m
    coef, Ft, yt = _fit_and_test(task, features, rng)
    e_opt = (yt - c_opt - Ft @ beta) ** 2 / task.r0
    e_fit = (yt - coef[0] - Ft @ coef[1:]) ** 2 / task.r0
    se = e_opt.std() / math.sqrt(len(yt))
    assert abs(e_opt.mean() - exact) < 4 * se
    diff = e_fit - e_opt
    se_diff = diff.std() / math.sqrt(len(yt))
    p = Ft.shape[1] + 1
    assert diff.mean() > -4 * se_diff
    assert diff.mean() < 4 * se_diff + 3 * p / len(yt)


@pytest.mark.parametrize("N", [2, 6, 12, 40])
def test_quadratic_activation_general_path_matches_closed_forms(rng, N):
    d = 6
    task = QuadraticTarget(random_symmetric(rng, d), offset=-0.4)
    W = random_weights(d, N, seed=N)
    for regime in ("rf", "nt"):
        closed = exact_risk(task, regime, W)
        for method in ("dense", "cg"):
            general = exact_risk(task, regime, W, closed_form=False, method=method, tol=1e-12)
            assert abs(general - closed) < 1e-8, (regime, method, general, closed)
    general = exact_risk(task, "nt", W, closed_form=False, second_layer=True)
    assert abs(general - exact_risk(task, "nt", W)) < 1e-8


def test_quadratic_activation_paper_scale_rf():
    task = QuadraticTarget.paper(d=120, seed=100)
    W = random_weights(120, 90, seed=0)
    assert abs(exact_risk(task, "rf", W, closed_form=False) - exact_risk(task, "rf", W)) < 1e-8


@pytest.mark.parametrize("name", ["relu", "gelu", "tanh"])
@pytest.mark.parametrize("second_layer", [False, True])
def test_cg_matches_dense(task, name, second_layer):
    W = random_weights(4, 9, seed=1)
    dense = exact_risk(task, "nt", W, activation=name, method="dense", second_layer=second_layer)
    info = {}
    cg = exact_risk(task, "nt", W, activation=name, method="cg", second_layer=second_layer, tol=1e-12,
                    info=info)
    assert abs(dense - cg) < 1e-9
    assert info["method"] == "cg" and info["relative_residual"] <= 1e-12


@pytest.mark.parametrize("name", ["quadratic", "relu", "tanh", "gelu", "softplus"])
@pytest.mark.parametrize("second_layer", [False, True])
def test_nt_features_are_the_autograd_linearisation(rng, name, second_layer):
    """Hand-written NT features · direction = torch.func.jvp of f(x) = Σ a_i σ(⟨w_i,x⟩) at a = 1."""
    if name == "softplus":
        act = Activation.from_function(
            lambda u: torch.nn.functional.softplus(u) if isinstance(u, torch.Tensor) else np.logaddexp(0, u),
            name="softplus")
    else:
        act = get_activation(name)
    d, N, n = 5, 4, 7
    W = rng.standard_normal((N, d)) / math.sqrt(d)
    x = rng.standard_normal((n, d))
    V, da = rng.standard_normal((N, d)), rng.standard_normal(N)
    a = np.ones(N)
    if not second_layer:
        da = np.zeros(N)

    def f(Wt, at):
        return act.fn(torch.tensor(x) @ Wt.T) @ at

    _, jvp = torch.func.jvp(f, (torch.tensor(W), torch.tensor(a)), (torch.tensor(V), torch.tensor(da)))
    F = nt_features(x, W, act, second_layer=second_layer)
    direction = np.concatenate([V.ravel(), da]) if second_layer else V.ravel()
    np.testing.assert_allclose(F @ direction, jvp.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("second_layer", [False, True])
def test_odd_activation_is_blind_to_the_centred_quadratic_target(rng, second_layer):
    """tanh is odd: σ(u_i) and x σ'(u_i) are odd in x, the target is even, so nothing is explained."""
    task = QuadraticTarget(random_symmetric(rng, 5, psd=True))
    W = random_weights(5, 8, seed=0)
    assert exact_risk(task, "rf", W, activation="tanh") == pytest.approx(1.0, abs=1e-14)
    assert exact_risk(task, "nt", W, activation="tanh", second_layer=second_layer) == pytest.approx(1.0, abs=1e-14)
    # but an activation with an even part does see it
    assert exact_risk(task, "nt", W, activation="gelu", second_layer=second_layer) < 0.9


def test_relu_second_layer_adds_nothing(task):
    """ReLU is positively homogeneous: σ(u) = u σ'(u), so σ(⟨w_i,x⟩) is the NT feature with b_i = w_i."""
    W = random_weights(4, 6, seed=2)
    a = exact_risk(task, "nt", W, activation="relu")
    b = exact_risk(task, "nt", W, activation="relu", second_layer=True)
    assert abs(a - b) < 1e-9
    assert exact_risk(task, "nt", W, activation="gelu", second_layer=True) < exact_risk(
        task, "nt", W, activation="gelu") - 1e-4


def test_user_function_through_exact_risk(task):
    """A user function with a numerical derivative gives the same risks as the built-in it copies."""
    W = random_weights(4, 5, seed=4)
    user = Activation.from_function(lambda u: u * __import__("scipy").special.ndtr(u), name="my-gelu")
    for regime in ("rf", "nt"):
        assert exact_risk(task, regime, W, activation=user) == pytest.approx(
            exact_risk(task, regime, W, activation="gelu"), abs=1e-8)


def test_bad_inputs_get_clear_errors(task):
    W = random_weights(4, 3, seed=0)
    with pytest.raises(ValueError, match="activation 'bad'.*returned nan"):
        exact_risk(task, "rf", W, activation=Activation("bad", lambda u: np.where(u > 2, np.nan, u), lambda u: u))
    with pytest.raises(ValueError, match=r"no NN optimum for activation 'relu'.*needs σ\(u\) = u² \+ c0"):
        exact_risk(task, "nn", W, activation="relu")
    with pytest.raises(ValueError, match="method must be one of"):
        exact_risk(task, "nt", W, activation="relu", method="lu")
    with pytest.raises(ValueError, match="tol must be a finite positive number"):
        exact_risk(task, "nt", W, activation="relu", tol=-1)
    with pytest.raises(ValueError, match="rows 0 and 1 of W are parallel"):
        exact_risk(task, "nt", np.vstack([W[0], 2 * W[0], W[1]]), activation="relu")
    with pytest.raises(ValueError, match="positive variance"):
        exact_risk(task, "rf", np.vstack([W, np.zeros(4)]), activation="gelu")


def test_cg_raises_or_warns_when_it_stops_early():
    task = QuadraticTarget.paper(d=40)
    W = random_weights(40, 40, seed=0)
    with pytest.raises(SolverAccuracyError, match=r"stopped after 2 iterations at relative residual .* > tol = 1e-10"):
        exact_risk(task, "nt", W, activation="relu", method="cg", maxiter=2)
    with pytest.warns(RuntimeWarning, match="conjugate gradients stopped after 2 iterations"):
        exact_risk(task, "nt", W, activation="relu", method="cg", maxiter=2, on_miss="warn")


@pytest.mark.slow
def test_relu_nt_dense_vs_cg_at_moderate_size():
    task = QuadraticTarget.paper(d=50, seed=100)
    W = random_weights(50, 60, seed=1)
    dense = exact_risk(task, "nt", W, activation="relu", method="dense")
    cg = exact_risk(task, "nt", W, activation="relu", method="cg")
    assert abs(dense - cg) < 1e-8


class _BinaryMixture:
    """y = ±1 equiprobable, x | y ~ N(0, I ± Δ): sampled here, independently of the solver."""

    def __init__(self, rng, d=4, scale=0.6):
        A = rng.standard_normal((d, d))
        D = (A + A.T) / 2
        self.Delta = D * scale / np.abs(np.linalg.eigvalsh(D)).max()
        self.d = d
        self.L = [np.linalg.cholesky(np.eye(d) + s * self.Delta) for s in (1, -1)]

    def sample(self, n, rng):
        y = rng.choice([-1.0, 1.0], n)
        z = rng.standard_normal((n, self.d))
        return np.where(y[:, None] > 0, z @ self.L[0].T, z @ self.L[1].T), y


@pytest.mark.parametrize("name", ["relu", "gelu"])
@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_mixture_exact_risk_against_least_squares(rng, name, regime):
    """The mixture path (two Gaussian components, cross moments = half-differences of class means):
    the exact optimum evaluated on fresh samples has the exact risk within 4 SE; a least-squares fit
    on 200k samples is no better (paired) and at most O(p/n) worse."""
    from lazytrain.exact.general import Component, class_means

    act = get_activation(name)
    mix = _BinaryMixture(rng)
    W = random_weights(4, 3, seed=5)
    I = np.eye(4)
    comps = (Component(0.5, I + mix.Delta), Component(0.5, I - mix.Delta))
    (rp, npos), (rn, nneg) = (class_means(act, W, c) for c in comps)
    if regime == "rf":
        K, m = rf_covariance(act, W, comps)
        beta = psd_solve(K, (rp - rn) / 2)
        features = lambda x: rf_features(x, W, act)  # noqa: E731
    else:
        G = NTGram(act, W, comps)
        beta = nt_explained(act, W, (npos - nneg) / 2, components=comps, method="dense").coef
        m = G.mean_vec.ravel()
        features = lambda x: nt_features(x, W, act)  # noqa: E731
    task = GaussianMixture(mix.Delta)
    exact = exact_risk(task, regime, W, act)
    assert 0.5 < exact < 0.9995
    x, y = mix.sample(200_000, rng)
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(y)), features(x)]), y, rcond=None)
    xt, yt = mix.sample(200_000, rng)
    Ft = features(xt)
    e_opt = (yt + beta @ m - Ft @ beta) ** 2  # optimal offset c = E y − βᵀm = −βᵀm
    e_fit = (yt - coef[0] - Ft @ coef[1:]) ** 2
    assert abs(e_opt.mean() - exact) < 4 * e_opt.std() / math.sqrt(len(yt))
    diff = e_fit - e_opt
    se_diff = diff.std() / math.sqrt(len(yt))
    assert -4 * se_diff < diff.mean() < 4 * se_diff + 3 * (Ft.shape[1] + 1) / len(yt)
    if regime == "nt":
        dense = exact_risk(task, "nt", W, act, second_layer=True)
        cg = exact_risk(task, "nt", W, act, second_layer=True, method="cg", tol=1e-12)
        assert abs(dense - cg) < 1e-9


@pytest.mark.parametrize("name", ["relu", "gelu"])
@pytest.mark.parametrize("second_layer", [False, True])
def test_matrix_free_product_matches_assembled_gram(rng, name, second_layer):
    """The O(N²d) product and the entrywise assembly of the Gram are two codings of the same matrix."""
    from lazytrain.exact.general import Component

    act = get_activation(name)
    W = random_weights(5, 4, seed=3)
    D = random_symmetric(rng, 5)
    D *= 0.5 / np.abs(np.linalg.eigvalsh(D)).max()
    for comps in [None, (Component(0.3, np.eye(5) + D), Component(0.7, np.eye(5) - D))]:
        G = NTGram(act, W, second_layer=second_layer) if comps is None else NTGram(
            act, W, comps, second_layer=second_layer)
        np.testing.assert_allclose(G.dense_by_products(), G.dense(), rtol=1e-12, atol=1e-13)
        assert G.trace() == pytest.approx(np.trace(G.dense()), rel=1e-12)


@pytest.mark.parametrize("N", [2, 5, 9])
def test_mixture_quadratic_activation_general_path_matches_closed_forms(rng, N):
    from lazytrain import GaussianMixture

    D = random_symmetric(rng, 5)
    task = GaussianMixture(D * 0.7 / np.abs(np.linalg.eigvalsh(D)).max())
    W = random_weights(5, N, seed=N)
    for regime in ("rf", "nt"):
        closed = exact_risk(task, regime, W)
        for method in ("dense", "cg"):
            general = exact_risk(task, regime, W, closed_form=False, method=method, tol=1e-12)
            assert abs(general - closed) < 1e-8, (regime, method, general, closed)


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_mixture_any_activation_against_least_squares(rng, name):
    """exact_risk on a GaussianMixture (sampled by the task itself) vs least squares on fresh samples."""
    from lazytrain import GaussianMixture

    D = random_symmetric(rng, 4)
    task = GaussianMixture(D * 0.6 / np.abs(np.linalg.eigvalsh(D)).max())
    act = get_activation(name)
    W = random_weights(4, 4, seed=2)
    for regime, features in (("rf", lambda x: rf_features(x, W, act)),
                             ("nt", lambda x: nt_features(x, W, act, second_layer=True))):
        exact = exact_risk(task, regime, W, activation=name, second_layer=True)
        x, y = task.sample(200_000, rng=rng)
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(y)), features(x)]), y, rcond=None)
        xt, yt = task.sample(200_000, rng=rng)
        e = (yt - coef[0] - features(xt) @ coef[1:]) ** 2
        se = e.std() / math.sqrt(len(e))
        assert exact - 4 * se < e.mean() < exact + 4 * se + 3 * (len(coef)) / len(e), (regime, exact, e.mean(), se)


def test_odd_activation_is_blind_to_the_mixture(rng):
    """Both classes are centred, so odd features have the same mean under each: tanh explains nothing."""
    from lazytrain import GaussianMixture

    task = GaussianMixture.paper(d=30, frob2=1.0)
    W = random_weights(30, 20, seed=0)
    for regime in ("rf", "nt"):
        assert exact_risk(task, regime, W, activation="tanh") == pytest.approx(1.0, abs=1e-14)
    assert exact_risk(task, "nt", W, activation="gelu") < 0.99
