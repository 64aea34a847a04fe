"""The infinite-width kernels are built on the activation's Gaussian expectations, kinks included.

Every check compares with an independent computation: the activation's 1-D moments (the
diagonal) and its pair moments (the exact solvers' path), adaptive 1-D quadrature for parallel
inputs, the generic quadrature for the closed forms (arc-cosine, polynomials), and Monte Carlo
over random neurons (tolerance in standard errors).
"""

import numpy as np
import pytest
from scipy import integrate

from lazytrain.activations import Activation, MomentAccuracyError, get_activation, registered_activations
from lazytrain.kernels import _geometry, kernel_matrix
from lazytrain.weights import random_weights

D = 6
TOL = 1e-10


def inputs(seed=3):
    """Rows with varied norms, a nearly parallel pair (rows 0, 1), a nearly anti-parallel pair
    (2, 3), a duplicated row (4 = 5) and weakly correlated rows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((7, D)) * np.array([1.0, 1.0, 0.6, 1.0, 1.4, 1.4, 0.5])[:, None]
    X[1] = 1.8 * X[0] + 1e-4 * rng.standard_normal(D)
    X[3] = -0.7 * X[2] + 1e-3 * rng.standard_normal(D)
    X[5] = X[4]
    return X


def one_dimensional(act, order, a, b):
    """E[f(a z) f(b z)] for f = σ (order 0) or σ' (order 1) by adaptive quadrature split at the kinks."""
    f = act.fn if order == 0 else act.derivative
    kinks = act.kinks or ()
    points = sorted({0.0, *(c / a for c in kinks), *(c / b for c in kinks)})
    edges = [-14.0] + [p for p in points if abs(p) < 14] + [14.0]

    def g(z):
        return float(f(np.array(a * z)) * f(np.array(b * z))) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

    return sum(integrate.quad(g, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
               for lo, hi in zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("name", registered_activations())
def test_kernels_equal_the_activation_moments(name):
    """Diagonal: the 1-D moments (E σ², E σ'²‖x‖²); off the diagonal: pair_moments, the exact
    solvers' expectations, at nearly parallel and anti-parallel pairs too; all to 1e-10."""
    act = get_activation(name)
    X = inputs()
    d = X.shape[1]
    rf, nt = kernel_matrix(act, "rf", X), kernel_matrix(act, "nt", X)
    assert np.all(np.isfinite(rf)) and np.all(np.isfinite(nt))
    q = np.einsum("ij,ij->i", X, X) / d
    mom = act.moments(q)
    np.testing.assert_allclose(np.diag(rf), mom.second, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(np.diag(nt), mom.d_second * q * d, rtol=TOL, atol=TOL)
    keep = [0, 1, 2, 3, 4, 6]  # pair_moments needs distinct (non-parallel) rows
    sub = X[keep]
    pm = act.pair_moments(sub @ sub.T / d, orders=[(0, 0), (1, 1)])
    off = ~np.eye(len(keep), dtype=bool)
    scale0 = np.sqrt(np.outer(mom.second[keep], mom.second[keep]))
    scale1 = np.sqrt(np.outer(mom.d_second[keep], mom.d_second[keep]))
    assert np.max(np.abs(rf[np.ix_(keep, keep)] - pm[(0, 0)])[off] / scale0[off]) <= TOL
    nt_pm = pm[(1, 1)] * (sub @ sub.T)
    assert np.max(np.abs(nt[np.ix_(keep, keep)] - nt_pm)[off] / (scale1 * np.abs(sub @ sub.T))[off]) <= TOL
    assert rf[4, 5] == pytest.approx(mom.second[4], rel=TOL, abs=TOL)  # the duplicated row: ρ = 1 off the diagonal


@pytest.mark.parametrize("name", ["hard_tanh", "abs", "leaky_relu", "tanh", "relu"])
@pytest.mark.parametrize("factor", [0.5, -1.7])
def test_parallel_inputs_are_a_one_dimensional_expectation(name, factor):
    """x' = λx: E[f(√q z) f(λ√q z)], against adaptive 1-D quadrature; a number, never NaN."""
    act = get_activation(name)
    x = np.random.default_rng(4).standard_normal(D)
    X1, X2 = x[None], factor * x[None]
    a = float(np.sqrt(x @ x / D))
    for order, kind in ((0, "rf"), (1, "nt")):
        k = kernel_matrix(act, kind, X1, X2)[0, 0] / (1.0 if kind == "rf" else float(x @ (factor * x)))
        assert k == pytest.approx(one_dimensional(act, order, a, factor * a), rel=TOL, abs=TOL)


def test_near_parallel_angle_comes_from_the_vectors():
    """ρ from the Gram matrix loses √eps in sin θ near θ = 0; the geometry takes it from the vectors."""
    x = np.random.default_rng(6).standard_normal(D)
    e = np.zeros(D)
    e[0] = 1.0
    y = x + 1e-9 * (e - (e @ x) / (x @ x) * x)  # exactly known angle θ ≈ 1e-9 |e⊥|/|x|
    _, _, rho, sin = _geometry(x[None], y[None])
    perp = e - (e @ x) / (x @ x) * x
    expected = np.arctan(1e-9 * np.linalg.norm(perp) / np.linalg.norm(x))
    assert sin[0, 0] == pytest.approx(np.sin(expected), rel=1e-6)
    _, _, rho, sin = _geometry(x[None], np.stack([x, -2 * x]))
    assert sin[0, 0] == 0.0 and sin[0, 1] == 0.0 and rho[0, 0] == 1.0 and rho[0, 1] == -1.0


def _generic_twin(act):
    """The same σ as a plain Activation: no closed forms, no polynomial shortcut."""
    kinks = act.kinks if act.poly is None else ()
    return Activation(act.name + "-generic", act.fn, act.derivative, poly=None, kinks=kinks)


@pytest.mark.parametrize("name", ["relu", "abs", "leaky_relu", "quadratic", "hermite23"])
def test_fast_paths_equal_the_general_path(name):
    """The arc-cosine forms (a·u + c·ReLU) and the finite Hermite sum (polynomials) against the
    generic series + quadrature of the same σ, on every pair including parallel ones."""
    act = get_activation(name)
    X = inputs(seed=8)
    twin = _generic_twin(act)
    for kind in ("rf", "nt"):
        fast, general = kernel_matrix(act, kind, X), kernel_matrix(twin, kind, X)
        scale = np.sqrt(np.outer(np.diag(general), np.diag(general)))
        assert np.max(np.abs(fast - general) / scale) <= TOL


@pytest.mark.parametrize("name", ["hard_tanh", "abs", "leaky_relu"])
def test_kinked_kernels_against_monte_carlo(name):
    """k(x, x') against Φ(x)ᵀΦ(x')/N over N = 200 000 random neurons, nearly parallel pairs and the
    diagonal included (where the old Gauss-Hermite kernel was off by up to 17 %): within 4 SE."""
    act = get_activation(name)
    X = inputs(seed=2)[[0, 1, 2, 3, 6]]
    W = random_weights(D, 200_000, seed=1)
    u = X @ W.T
    for kind in ("rf", "nt"):
        K = kernel_matrix(act, kind, X)
        F = act.fn(u) if kind == "rf" else act.derivative(u)
        prods = F[:, None, :] * F[None, :, :]
        if kind == "nt":
            prods = prods * (X @ X.T)[:, :, None]
        mean, se = prods.mean(axis=2), prods.std(axis=2) / np.sqrt(u.shape[1])
        assert np.all(np.abs(K - mean) <= 4 * se + 1e-12), (kind, np.max(np.abs(K - mean) / (se + 1e-300)))


def test_a_kernel_that_misses_tol_raises():
    """The error estimates are checked: tol below what the quadrature reaches is an error, not a number."""
    X = inputs()[:4]
    with pytest.raises(MomentAccuracyError, match="hard_tanh.*kernel"):
        kernel_matrix(get_activation("hard_tanh"), "nt", X, tol=1e-17)
    kernel_matrix(get_activation("relu"), "nt", X, tol=1e-12)  # closed forms: rounding only


@pytest.mark.parametrize("bad,match", [
    ({"kind": "nn"}, "kind"),
    ({"X1": np.zeros((2, D))}, "non-zero"),
])
def test_bad_input(bad, match):
    args = {"activation": get_activation("tanh"), "kind": "rf", "X1": inputs(), **bad}
    with pytest.raises(ValueError, match=match):
        kernel_matrix(**args)


@pytest.mark.parametrize("kwargs,match", [
    ({"orders": [(2, 2)]}, "orders"),
    ({"rho": np.zeros((3, 3))}, "rho"),
    ({"rho": np.full((2, 3), 1.5)}, "rho"),
    ({"sin": np.full((2, 3), -0.1)}, "sin"),
    ({"q1": np.array([1.0, 0.0])}, "variance"),
])
def test_pair_expectations_bad_input(kwargs, match):
    args = {"q1": np.ones(2), "q2": np.ones(3), "rho": np.zeros((2, 3)), **kwargs}
    with pytest.raises(ValueError, match=match):
        get_activation("tanh").pair_expectations(**args)
