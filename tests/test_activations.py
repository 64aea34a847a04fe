"""Activations: σ/σ' on numpy and torch, Hermite coefficients and Gaussian
moments against independent computations (adaptive quadrature, Monte Carlo,
torch autograd), and clear errors for functions that cannot be evaluated."""

import math

import numpy as np
import pytest
from scipy import integrate

from lazytrain import Activation, get_activation
from lazytrain.activations import PAIR_ORDERS, RHO_SERIES, _pair_geometry, hermite_table

torch = pytest.importorskip("torch")

NAMES = ["quadratic", "relu", "tanh", "gelu"]


def gauss_expect(f, q=1.0):
    """E f(√q z) by adaptive quadrature (scipy.integrate.quad), split at 0 for kinks."""
    g = lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(g, -np.inf, 0, epsabs=1e-13)[0] + integrate.quad(g, 0, np.inf, epsabs=1e-13)[0]


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_torch_agree_and_derivative_is_autograd(name):
    act = get_activation(name)
    u = np.linspace(-4, 4, 41).reshape(41, 1) + 1e-3
    t = torch.tensor(u, dtype=torch.float64, requires_grad=True)
    y = act.fn(t)
    assert isinstance(y, torch.Tensor)
    np.testing.assert_allclose(y.detach().numpy(), act.fn(u), rtol=1e-12, atol=1e-14)
    (grad,) = torch.autograd.grad(y.sum(), t)
    np.testing.assert_allclose(grad.numpy(), act.derivative(u), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(act.derivative(t).detach().numpy(), act.derivative(u), rtol=1e-12, atol=1e-14)


def test_user_function_numeric_and_autograd_derivatives():
    def softplus(u):
        return torch.nn.functional.softplus(u) if isinstance(u, torch.Tensor) else np.logaddexp(0, u)

    act = Activation.from_function(softplus)
    assert act.name == "softplus" and get_activation(act) is act
    u = np.linspace(-6, 6, 25)
    exact = 1 / (1 + np.exp(-u))
    np.testing.assert_allclose(act.derivative(u), exact, atol=1e-11)
    t = torch.tensor(u)
    np.testing.assert_allclose(act.derivative(t).numpy(), exact, atol=1e-14)
    # a plain callable passed to get_activation is wrapped the same way
    assert get_activation(np.sin).name == "sin"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [0.3, 1.0, 2.5])
def test_hermite_coefficients_against_adaptive_quadrature(name, q):
    act = get_activation(name)
    b = act.hermite_coefficients(6, q)
    for k in range(7):
        ref = gauss_expect(lambda u, k=k: float(act.fn(np.array(u))) * hermite_table(u / math.sqrt(q), k)[k], q)
        assert abs(b[k] - ref) < 1e-9 * max(1.0, q), (k, b[k], ref)


def test_parity_of_hermite_coefficients():
    """tanh is odd: its even coefficients vanish, so it cannot see an even target."""
    b = get_activation("tanh").hermite_coefficients(10, 1.7)
    assert np.max(np.abs(b[0::2])) < 1e-15
    b = get_activation("quadratic").hermite_coefficients(10, 1.7)
    np.testing.assert_allclose(b[[0, 2]], [1.7, 1.7 * math.sqrt(2)], rtol=1e-13)
    assert np.max(np.abs(np.delete(b, [0, 2]))) < 1e-13


@pytest.mark.parametrize("name", NAMES)
def test_moments_against_adaptive_quadrature(name):
    act = get_activation(name)
    q = np.array([0.4, 1.3])
    m = act.moments(q)
    s = lambda u: float(act.fn(np.array(u)))  # noqa: E731
    ds = lambda u: float(act.derivative(np.array(u)))  # noqa: E731
    for i, qi in enumerate(q):
        ref = dict(
            mean=gauss_expect(s, qi),
            second=gauss_expect(lambda u: s(u) ** 2, qi),
            d_second=gauss_expect(lambda u: ds(u) ** 2, qi),
            d_second_curv=gauss_expect(lambda u, qi=qi: ds(u) ** 2 * (u * u - qi), qi) / qi**2,
            cross_grad=gauss_expect(lambda u: s(u) * ds(u) * u, qi) / qi,
            d2_mean=gauss_expect(lambda u: ds(u) * u, qi) / qi,
        )
        for key, val in ref.items():
            assert abs(getattr(m, key)[i] - val) < 1e-9, (key, getattr(m, key)[i], val)


def _mc_pair(act, W, n, rng):
    """Monte-Carlo estimates (mean, standard error) of the pair moments, via Stein:
    E σ''_iσ''_j etc. are written as E[F(u) H(u)] with H the bivariate Hermite polynomials."""
    G = W @ W.T
    P = np.linalg.inv(G)
    u = rng.standard_normal((n, 2)) @ np.linalg.cholesky(G).T
    y = u @ P
    s0, s1 = act.fn(u[:, 0]), act.fn(u[:, 1])
    d0, d1 = act.derivative(u[:, 0]), act.derivative(u[:, 1])
    samples = {
        (0, 0): s0 * s1,
        (1, 1): d0 * d1,
        (2, 2): d0 * d1 * (y[:, 0] * y[:, 1] - P[0, 1]),
        (3, 1): d0 * d1 * (y[:, 0] ** 2 - P[0, 0]),
        (2, 0): d0 * s1 * y[:, 0],
    }
    return {o: (v.mean(), v.std() / math.sqrt(n)) for o, v in samples.items()}


@pytest.mark.parametrize("name", ["relu", "gelu", "tanh"])
@pytest.mark.parametrize("rho", [0.3, 0.8, -0.95])
def test_pair_moments_against_monte_carlo(name, rho):
    """Closed forms (ReLU), Mehler series (|ρ| ≤ 0.5) and 2-D quadrature (|ρ| > 0.5)."""
    act = get_activation(name)
    W = np.array([[1.2, 0.0], [0.7 * rho, 0.7 * math.sqrt(1 - rho**2)]])
    got = act.pair_moments(W @ W.T)
    assert np.all(np.isnan(np.diag(got[(0, 0)])))
    mc = _mc_pair(act, W, 400_000, np.random.default_rng(3))
    for o in PAIR_ORDERS:
        mean, se = mc[o]
        assert abs(got[o][0, 1] - mean) < 5 * se + 1e-12, (o, got[o][0, 1], mean, se)


@pytest.mark.parametrize("name", ["gelu", "tanh"])
def test_series_and_quadrature_agree_near_the_switch(name):
    """The two generic paths are independent computations of the same moments."""
    act = get_activation(name)
    rho = RHO_SERIES - 0.05
    W = np.array([[1.1, 0.0], [0.9 * rho, 0.9 * math.sqrt(1 - rho**2)]])
    _, q, r = _pair_geometry(W @ W.T)
    mask = ~np.eye(2, dtype=bool)
    series = {o: np.full((2, 2), np.nan) for o in PAIR_ORDERS}
    quad = {o: np.full((2, 2), np.nan) for o in PAIR_ORDERS}
    act._series_pairs(q, r, mask, list(PAIR_ORDERS), series)
    act._quadrature_pairs(q, r, mask, list(PAIR_ORDERS), quad)
    for o in PAIR_ORDERS:
        np.testing.assert_allclose(series[o], quad[o], rtol=1e-8, atol=1e-10, err_msg=str(o))


def test_relu_closed_forms_match_generic_quadrature_roughly():
    """The generic path on a user-written ReLU converges (slowly: the kink) to the closed forms."""
    relu = get_activation("relu")
    user = Activation.from_function(lambda u: np.maximum(u, 0.0), name="user-relu")
    np.testing.assert_allclose(user.hermite_coefficients(4, 0.8), relu.hermite_coefficients(4, 0.8), atol=3e-3)


@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda u: np.where(u > 1, np.nan, u), "returned nan at u = "),
        (lambda u: np.where(u < 0, -np.inf, u), "not finite"),
        (lambda u: np.sum(u), "must act elementwise"),
        (lambda u: np.stack([u, u]), "shape"),
        (lambda u: undefined_name * u, "failed"),  # noqa: F821
    ],
)
def test_bad_user_functions_get_clear_errors(fn, match):
    with pytest.raises(ValueError, match=match):
        Activation.from_function(fn, name="bad")


def test_bad_names_and_objects():
    with pytest.raises(ValueError, match="activation must be one of .*'relu'.*got 'sigmoid'"):
        get_activation("sigmoid")
    with pytest.raises(ValueError, match="got 3"):
        get_activation(3)
    with pytest.raises(ValueError, match="derivative must be callable"):
        Activation.from_function(np.tanh, derivative=2.0)


def test_error_only_far_out_is_still_caught():
    """A function that overflows only in the Gaussian tail fails when the moments need it."""
    act = Activation.from_function(lambda u: np.where(np.abs(u) > 8, np.inf, u), name="tail")
    with pytest.raises(ValueError, match="activation 'tail'.*not finite"):
        act.moments(np.array([1.0]))
