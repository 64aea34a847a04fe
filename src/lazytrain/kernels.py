r"""Infinite-width RF and NT kernels of an activation, for inputs x ∈ R^d.

With first-layer weights w ~ N(0, I_d/d) (the default of
:func:`lazytrain.random_weights`), the pre-activations (u, u') = (⟨w, x⟩, ⟨w, x'⟩)
are centred Gaussian with variances q = ‖x‖²/d, q' = ‖x'‖²/d and covariance
c = ⟨x, x'⟩/d. The kernels are the limits of Φ(x)ᵀΦ(x')/N as N → ∞:

* RF:  k_RF(x, x') = E_w[σ(u) σ(u')];
* NT:  k_NT(x, x') = E_w[σ'(u) σ'(u')] ⟨x, x'⟩  (+ k_RF with the second layer).

Every expectation comes from the activation (:meth:`Activation.pair_expectations
<lazytrain.activations.Activation.pair_expectations>`), the one place that
knows σ's Gaussian expectations, kinks included: the arc-cosine closed forms
for a·u + c·ReLU (ReLU, leaky ReLU, |u|; Cho & Saul 2009), the finite Hermite
sum for polynomials, and otherwise the Mehler series where its tail bound
meets ``tol`` and quadrature split at the kinks of σ elsewhere; parallel
inputs (the diagonal, x' = λx) reduce to a 1-D expectation. Near-parallel
pairs get their angle from the vectors (not from ρ, whose rounding would cost
√eps in sin θ). Each entry's error estimate is checked against ``tol``: a
kernel that misses it raises :class:`~lazytrain.activations.MomentAccuracyError`.
See docs/theory.md, "Finite samples".
"""

from __future__ import annotations

import numpy as np

from .activations import MomentAccuracyError

KERNEL_KINDS = ("rf", "nt")
#: Pairs with 1 - |ρ| below this get ρ and sin θ from the angle between the vectors.
NEAR_PARALLEL = 1e-4


def _geometry(X1, X2):
    """q1, q2 (variances ‖x‖²/d), ρ and sin θ for every pair of rows, sin θ accurate near θ = 0, π."""
    d = X1.shape[1]
    q1 = np.einsum("ij,ij->i", X1, X1) / d
    q2 = np.einsum("ij,ij->i", X2, X2) / d
    if not (np.all(q1 > 0) and np.all(q2 > 0)):
        raise ValueError("kernel inputs must be non-zero vectors (a zero row of x has variance 0)")
    rho = np.clip((X1 @ X2.T / d) / np.sqrt(np.outer(q1, q2)), -1.0, 1.0)
    sin = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    i, j = np.nonzero(np.abs(rho) > 1.0 - NEAR_PARALLEL)
    if i.size:
        # unit vectors a, b: with t = ‖a - b‖ = 2 sin(θ/2), v = ‖a + b‖ = 2 cos(θ/2), sin θ = 2tv/(t² + v²)
        # and cos θ = (v² - t²)/(t² + v²), both accurate to a few ulps at every angle (0 at x' = ±λx)
        a = X1[i] / np.sqrt(q1[i] * d)[:, None]
        b = X2[j] / np.sqrt(q2[j] * d)[:, None]
        t, v = np.linalg.norm(a - b, axis=1), np.linalg.norm(a + b, axis=1)
        rho[i, j] = (v * v - t * t) / (t * t + v * v)
        sin[i, j] = 2 * t * v / (t * t + v * v)
    return q1, q2, rho, sin


def _expectations(activation, orders, X1, X2, tol):
    """E[σ^(m)(u) σ^(m)(u')] for all pairs of rows (orders (0, 0) and/or (1, 1)), checked against tol."""
    q1, q2, rho, sin = _geometry(X1, X2)
    out, err = activation.pair_expectations(q1, q2, rho, sin=sin, orders=orders, tol=tol, return_error=True)
    m1, m2 = activation.moments(q1), activation.moments(q2)
    second = {0: (m1.second, m2.second), 1: (m1.d_second, m2.d_second)}
    for o in orders:
        # relative to the Cauchy-Schwarz scale √(E f² E g²) ≥ |E fg|
        rel = err[o] / np.sqrt(np.outer(second[o[0]][0], second[o[1]][1]))
        bad = ~(rel <= tol)
        if bad.any():
            i, j = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(rel, nan=np.inf), -1.0)), rel.shape)
            norms = np.sqrt([q1[i], q2[j]])
            what = "E[σ(u)σ(u')] (RF kernel)" if o == (0, 0) else "E[σ'(u)σ'(u')] (NT kernel)"
            raise MomentAccuracyError(
                activation.name, (norms.min(), norms.max()), f"{what} at correlation {rho[i, j]:.12g}",
                rel[i, j], tol, hint=f"{int(bad.sum())} of {bad.size} kernel entries miss tol; raise tol")
    return out


def kernel_matrix(activation, kind, X1, X2=None, second_layer=False, tol=1e-9) -> np.ndarray:
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
        Accuracy every entry must reach, relative to √(E f(u)² E f(u')²) (f = σ for RF, σ'
        for NT); checked on the activation's error estimates. Those are conservative: where
        the 2-D rule estimates 1.6e-10, the error measured against adaptive quadrature is 1e-12.

    Returns
    -------
    ndarray of shape (n1, n2)
        k(x1_i, x2_j); the limit of Φ(x)ᵀΦ(x')/N for w ~ N(0, I/d).

    Raises
    ------
    ValueError
        An unknown kind, a zero input row.
    MomentAccuracyError
        When an entry's error estimate exceeds ``tol``.
    """
    X1 = np.asarray(X1, dtype=np.float64)
    X2 = X1 if X2 is None else np.asarray(X2, dtype=np.float64)
    if kind not in KERNEL_KINDS:
        raise ValueError(f"kind must be one of {list(KERNEL_KINDS)}, got {kind!r}")
    if kind == "rf":
        return _expectations(activation, [(0, 0)], X1, X2, tol)[(0, 0)]
    orders = [(1, 1), (0, 0)] if second_layer else [(1, 1)]
    E = _expectations(activation, orders, X1, X2, tol)
    K = E[(1, 1)] * (X1 @ X2.T)
    return K + E[(0, 0)] if second_layer else K


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


__all__ = ["kernel_matrix", "quadratic_kernel_form", "KERNEL_KINDS"]
