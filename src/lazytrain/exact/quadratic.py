"""Exact population risks for the quadratic target.

Quadratic activation: closed forms. Any other activation: the Gaussian-moment
solvers of :mod:`lazytrain.exact.general`, fed with the cross moments below.

Any quadratic-activation model with an offset is c + xᵀMx, whose risk is
2‖B - M‖²_F at the optimal c, so each regime is a matrix approximation
problem (paper.md §2.1):

* RF: M ∈ span{w_i w_iᵀ}            → an N×N Gram solve, K_ij = 2(w_i·w_j)²;
* NT: M ∈ S_W = {M : P⊥MP⊥ = 0}      → R/R0 = ‖P⊥BP⊥‖²_F / ‖B‖²_F;
* NN: rank(M) ≤ N                    → Eckart-Young on |λ(B)|.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ..tasks import QuadraticTarget
from ..theory.quadratic import nn_theory
from . import _exact, general
from ._linalg import psd_solve, psd_solve_quadform  # noqa: F401  (re-exported for exact.mixture)
from .general import variances


def rf_explained(task: QuadraticTarget, W: np.ndarray) -> float:
    """Variance of f* explained by the best RF predictor: vᵀK⁺v (un-normalised)."""
    G = W @ W.T
    K = 2.0 * G * G
    v = 2.0 * np.einsum("ij,ij->i", W @ task.B, W)
    return psd_solve_quadform(K, v)


def row_space_basis(W: np.ndarray) -> np.ndarray:
    """Orthonormal rows V (r × d) spanning span(w_1..w_N), r = numerical rank of W."""
    # column-pivoted QR of Wᵀ: |R_ii| decreases, so the rank is read off its diagonal
    Q, R, _ = scipy.linalg.qr(W.T, mode="economic", pivoting=True, check_finite=False)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > diag[0] * max(W.shape) * np.finfo(float).eps))
    return Q[:, :rank].T


def nt_risk(task: QuadraticTarget, W: np.ndarray) -> float:
    """‖P⊥BP⊥‖²_F / ‖B‖²_F: the NT risk with an offset (paper.md §2.3).

    With P = VᵀV the projector on span(W): ‖P⊥BP⊥‖² = ‖B‖² - 2‖VB‖² + ‖VBVᵀ‖²,
    which costs O(r d²) and never forms the complement.
    """
    V = row_space_basis(W)
    if V.shape[0] == task.d:
        return 0.0
    VB = V @ task.B
    VBV = VB @ V.T
    perp = task.frob2 - 2.0 * float(np.sum(VB * VB)) + float(np.sum(VBV * VBV))
    return max(perp, 0.0) / task.frob2


def require_quadratic_activation(activation) -> None:
    """Raise unless σ(u) = a u² + c0: the exact NN risk (a rank-N optimum) needs it."""
    if not activation.is_even_quadratic:
        raise ValueError(
            f"activation: the exact NN risk (a rank-N optimum of c + xᵀMx) needs the quadratic "
            f"activation, got {activation.name!r}; train(task, 'nn', N, activation=...) gives the "
            "SGD risk, and exact_risk gives RF and NT for any activation"
        )


def general_cross_moments(task: QuadraticTarget, W: np.ndarray, activation, return_error: bool = False):
    """Cov(f*, φ) for the RF features σ(u_i) and the NT features x σ'(u_i), any activation.

    With u = ⟨w, x⟩ ~ N(0, q), q = ‖w‖², and x = (u/q) w + x⊥,
    E[g(u)(xᵀBx − Tr B)] = (wᵀBw/q) E[g(√q z) He₂(z)], and by Stein
    E[(xᵀBx − Tr B) x σ'(u)] = (wᵀBw/q) E[σ''(√q z)He₂(z)] w + 2 E[σ''(u)] B w.
    In the Hermite coefficients b_k(q) of σ(√q z) (see :mod:`lazytrain.activations`):
    E[σ(√q z)He₂] = √2 b₂, E[σ''(u)] = √2 b₂/q, E[σ''(√q z)He₂] = √24 b₄/q.

    Returns
    -------
    rf : ndarray of shape (N,)
    nt : ndarray of shape (N, d)
    rf_err, nt_err : ndarrays of the same shapes, with ``return_error=True``
        Error estimates propagated from those of b₂ and b₄.
    """
    q = variances(W)
    b, be = activation.hermite_coefficients(4, q, return_error=True)
    BW = W @ task.B  # rows (B w_i)ᵀ, B symmetric
    ratio = np.einsum("ij,ij->i", BW, W) / q
    rf = ratio * np.sqrt(2.0) * b[:, 2]
    nt = (ratio * np.sqrt(24.0) * b[:, 4] / q)[:, None] * W + (2.0 * np.sqrt(2.0) * b[:, 2] / q)[:, None] * BW
    if not return_error:
        return rf, nt
    rf_err = np.abs(ratio) * np.sqrt(2.0) * be[:, 2]
    nt_err = (np.abs(ratio) * np.sqrt(24.0) * be[:, 4] / q)[:, None] * np.abs(W) \
        + (2.0 * np.sqrt(2.0) * be[:, 2] / q)[:, None] * np.abs(BW)
    return rf, nt, rf_err, nt_err


@_exact.register
def _(task: QuadraticTarget, regime, W, activation, *, second_layer=False, closed_form=True,
      method="auto", tol=1e-10, maxiter=None, info=None, risk_tol=general.RISK_TOL, on_miss="raise"):
    if regime == "nn":
        require_quadratic_activation(activation)
        return nn_theory(task, W.shape[0])
    if closed_form and activation.is_even_quadratic:
        if regime == "rf":
            return float(np.clip(1.0 - rf_explained(task, W) / task.r0, 0.0, 1.0))
        # the second-layer term a_i (w_i·x)² lies in S_W already: same class
        return nt_risk(task, W)
    rf_cross, nt_cross, rf_err, nt_err = general_cross_moments(task, W, activation, return_error=True)
    if regime == "rf":
        explained = general.rf_explained(activation, W, rf_cross, cross_err=rf_err, r0=task.r0,
                                         risk_tol=risk_tol, info=info)
    else:
        err = np.concatenate([nt_err.ravel(), rf_err]) if second_layer else nt_err
        sol = general.nt_explained(activation, W, nt_cross, rf_cross, second_layer=second_layer,
                                   method=method, tol=tol, maxiter=maxiter, target_var=task.r0,
                                   cross_err=err, risk_tol=risk_tol, on_miss=on_miss)
        if info is not None:
            info.update(vars(sol))
        explained = sol.explained
    return float(np.clip(1.0 - explained / task.r0, 0.0, 1.0))
