"""Exact population risks for the quadratic target with a quadratic activation.

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
from . import _exact


def psd_solve_quadform(K: np.ndarray, v: np.ndarray) -> float:
    """vᵀK⁺v for a symmetric PSD K, safe when K is singular or ill-conditioned.

    Tries a Cholesky solve and checks its residual; falls back to an
    eigendecomposition with a relative cut-off (the pseudo-inverse) when K is
    numerically singular (e.g. RF with N > d(d+1)/2 features).
    """
    scale = float(np.max(np.diag(K)))
    try:
        cho = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
        alpha = scipy.linalg.cho_solve(cho, v, check_finite=False)
        resid = np.linalg.norm(K @ alpha - v) / max(np.linalg.norm(v), 1e-300)
        if np.all(np.isfinite(alpha)) and resid < 1e-8:
            return float(v @ alpha)
    except np.linalg.LinAlgError:
        pass
    lam, U = scipy.linalg.eigh(K, check_finite=False)
    keep = lam > lam[-1] * K.shape[0] * np.finfo(float).eps * 10
    proj = U[:, keep].T @ v
    return float(np.sum(proj**2 / lam[keep])) if scale > 0 else 0.0


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


@_exact.register
def _(task: QuadraticTarget, regime, W, activation, *, second_layer=False):
    if not activation.is_even_quadratic:
        raise ValueError(
            f"activation: exact risks are implemented for the quadratic activation only, "
            f"got {activation.name!r}"
        )
    if regime == "rf":
        return float(np.clip(1.0 - rf_explained(task, W) / task.r0, 0.0, 1.0))
    if regime == "nt":
        # the second-layer term a_i (w_i·x)² lies in S_W already: same class
        return nt_risk(task, W)
    return nn_theory(task, W.shape[0])
