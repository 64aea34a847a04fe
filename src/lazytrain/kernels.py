r"""Infinite-width RF and NT kernels of an activation, for inputs x ∈ R^d.

With first-layer weights w ~ N(0, I_d/d) (the default of
:func:`lazytrain.random_weights`), the pre-activations (u, u') = (⟨w, x⟩, ⟨w, x'⟩)
are centred Gaussian with variances q = ‖x‖²/d, q' = ‖x'‖²/d and covariance
c = ⟨x, x'⟩/d. The kernels are the limits of Φ(x)ᵀΦ(x')/N as N → ∞:

* RF:  k_RF(x, x') = E_w[σ(u) σ(u')];
* NT:  k_NT(x, x') = E_w[σ'(u) σ'(u')] ⟨x, x'⟩  (+ k_RF with the second layer).

Closed forms: ReLU (the arc-cosine kernels of Cho & Saul 2009, degree 1
for σ and degree 0 for σ'), and every polynomial σ (a finite Hermite sum,
exact). Any other σ: the Hermite (Mehler) series
E[f(u) g(u')] = Σ_k f_k(q) g_k(q') ρ^k, ρ = c/√(qq'), truncated where the
Cauchy-Schwarz tail bound √(Σ_{k>K} f_k²)·√(Σ_{k>K} g_k²)·|ρ|^{K+1} is below
``tol`` (relative to √(E f² E g²)); pairs where the series would need more
than :data:`MAX_DEGREE` terms (|ρ| near 1, σ not smooth) use 2-D Gauss-Hermite
quadrature. See docs/theory.md, "Finite samples".
"""

from __future__ import annotations

import numpy as np

from .activations import _LinearReLU, derivative_coefficients, gauss_hermite

#: Gauss-Hermite nodes per dimension of the 2-D fallback (strongly correlated pairs).
N_NODES_2D = 96

#: Largest Hermite degree of the series kernels.
MAX_DEGREE = 120
KERNEL_KINDS = ("rf", "nt")


def _geometry(X1, X2):
    d = X1.shape[1]
    q1 = np.einsum("ij,ij->i", X1, X1) / d
    q2 = np.einsum("ij,ij->i", X2, X2) / d
    c = X1 @ X2.T / d
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(c / np.sqrt(np.outer(q1, q2)), -1.0, 1.0)
    if not (np.all(q1 > 0) and np.all(q2 > 0)):
        raise ValueError("kernel inputs must be non-zero vectors (a zero row of x has variance 0)")
    return q1, q2, c, rho


def _series(activation, order, q1, q2, rho, tol):
    """E[σ^(order)(u) σ^(order)(u')] by the Mehler series, with the tail bound; NaN where it fails."""
    b1 = activation.hermite_coefficients(MAX_DEGREE + order, q1)
    b2 = activation.hermite_coefficients(MAX_DEGREE + order, q2)
    f1 = derivative_coefficients(b1, q1, order, MAX_DEGREE)
    f2 = derivative_coefficients(b2, q2, order, MAX_DEGREE)
    mom1, mom2 = activation.moments(q1), activation.moments(q2)
    second1 = mom1.second if order == 0 else mom1.d_second
    second2 = mom2.second if order == 0 else mom2.d_second
    # tail energies Σ_{k>K} f_k² = E f² - Σ_{k≤K} f_k² (clipped at rounding level)
    cum1 = np.cumsum(f1 * f1, axis=1)
    cum2 = np.cumsum(f2 * f2, axis=1)
    tail1 = np.maximum(second1[:, None] - cum1, 0.0)
    tail2 = np.maximum(second2[:, None] - cum2, 0.0)
    scale = np.sqrt(np.outer(second1, second2))
    r = np.abs(rho)
    out = np.zeros_like(rho)
    power = np.ones_like(rho)
    done = np.zeros(rho.shape, dtype=bool)
    for k in range(MAX_DEGREE + 1):
        out += np.where(done, 0.0, np.outer(f1[:, k], f2[:, k]) * power)
        power = power * rho
        bound = np.sqrt(np.outer(tail1[:, k], tail2[:, k])) * r ** (k + 1)
        done |= bound <= tol * scale
        if done.all():
            break
    return np.where(done, out, np.nan)


def _quadrature(activation, order, q1, q2, rho, mask):
    """2-D Gauss-Hermite E[σ^(order)(u)σ^(order)(u')] on the entries in ``mask`` (order 0 or 1)."""
    z, w = gauss_hermite(N_NODES_2D)
    z1, z2 = (a.ravel() for a in np.meshgrid(z, z, indexing="ij"))
    ww = np.outer(w, w).ravel()
    f = activation.fn if order == 0 else activation.derivative
    I, J = np.nonzero(mask)
    vals = np.empty(I.size)
    for s in range(0, I.size, 256):
        i, j = I[s:s + 256], J[s:s + 256]
        r = rho[i, j][:, None]
        u = np.sqrt(q1[i])[:, None] * z1
        v = np.sqrt(q2[j])[:, None] * (r * z1 + np.sqrt(np.maximum(1 - r * r, 0.0)) * z2)
        vals[s:s + 256] = (np.asarray(f(u), dtype=np.float64) * np.asarray(f(v), dtype=np.float64)) @ ww
    return vals


def _expectation(activation, order, X1, X2, tol):
    """E[σ^(order)(u) σ^(order)(u')] for all pairs of rows, order 0 (σσ) or 1 (σ'σ')."""
    q1, q2, c, rho = _geometry(X1, X2)
    if isinstance(activation, _LinearReLU) and activation.a == 0.0 and activation.c == 1.0:  # ReLU: arc-cosine kernels
        theta = np.arccos(rho)
        if order == 1:
            return (np.pi - theta) / (2 * np.pi)
        r = np.sqrt(np.outer(q1, q2))
        return r * (np.sqrt(np.maximum(1 - rho * rho, 0.0)) + (np.pi - theta) * rho) / (2 * np.pi)
    if activation.poly is not None:  # exact: finite Hermite sum
        degree = len(activation.poly) - 1
        b1 = activation.hermite_coefficients(degree + order, q1)
        b2 = activation.hermite_coefficients(degree + order, q2)
        f1 = derivative_coefficients(b1, q1, order, degree)
        f2 = derivative_coefficients(b2, q2, order, degree)
        return sum(np.outer(f1[:, k], f2[:, k]) * rho ** k for k in range(degree + 1))
    out = _series(activation, order, q1, q2, rho, tol)
    bad = np.isnan(out)
    if bad.any():
        out[bad] = _quadrature(activation, order, q1, q2, rho, bad)
    return out


def kernel_matrix(activation, kind, X1, X2=None, second_layer=False, tol=1e-12) -> np.ndarray:
    """The infinite-width RF or NT kernel between the rows of X1 and X2.

    Parameters
    ----------
    activation : Activation
    kind : {'rf', 'nt'}
    X1 : array of shape (n1, d)
    X2 : array of shape (n2, d), optional
        Defaults to X1.
    second_layer : bool
        NT only: add the RF kernel (the second-layer features).
    tol : float
        Relative truncation bound of the Hermite series (non-polynomial,
        non-ReLU σ only).

    Returns
    -------
    ndarray of shape (n1, n2)
        k(x1_i, x2_j); the limit of Φ(x)ᵀΦ(x')/N for w ~ N(0, I/d).
    """
    X1 = np.asarray(X1, dtype=np.float64)
    X2 = X1 if X2 is None else np.asarray(X2, dtype=np.float64)
    if kind == "rf":
        return _expectation(activation, 0, X1, X2, tol)
    if kind != "nt":
        raise ValueError(f"kind must be one of {list(KERNEL_KINDS)}, got {kind!r}")
    K = _expectation(activation, 1, X1, X2, tol) * (X1 @ X2.T)
    return K + _expectation(activation, 0, X1, X2, tol) if second_layer else K


def quadratic_kernel_form(activation, kind, X, alpha, second_layer=False):
    r"""For σ(u) = p₂u² + p₀: Σ_j α_j k(x_j, x) = const + xᵀMx exactly; returns (M, const).

    With w ~ N(0, I/d), q_j = ‖x_j‖²/d and q = ‖x‖²/d:
    E[σ(w·x_j)σ(w·x)] = p₂²(q_j q + 2⟨x_j, x⟩²/d²) + p₀p₂(q_j + q) + p₀², and
    E[σ'(w·x_j)σ'(w·x)]⟨x_j, x⟩ = 4p₂²⟨x_j, x⟩²/d: both quadratic forms in x.
    """
    p0, _, p2 = (tuple(activation.poly) + (0.0, 0.0, 0.0))[:3]
    X = np.asarray(X, dtype=np.float64)
    d = X.shape[1]
    q = np.einsum("ij,ij->i", X, X) / d
    outer = (X.T * alpha) @ X  # Σ_j α_j x_j x_jᵀ
    eye = np.eye(d)
    rf = (p2 * p2 * float(alpha @ q) + p0 * p2 * float(alpha.sum())) * eye / d + 2 * p2 * p2 * outer / d**2
    rf_const = float(alpha @ (p0 * p2 * q + p0 * p0))
    nt = 4 * p2 * p2 * outer / d
    if kind == "rf":
        return rf, rf_const
    return (nt + rf, rf_const) if second_layer else (nt, 0.0)


__all__ = ["kernel_matrix", "quadratic_kernel_form", "MAX_DEGREE"]
