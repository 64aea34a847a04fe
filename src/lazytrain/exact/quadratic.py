"""Exact population risks for the quadratic target.

Quadratic activation: closed forms (fast paths, chosen in
:func:`lazytrain.exact.exact_risk`). Any other activation: the general solver
of :mod:`lazytrain.exact.general`, fed with ``QuadraticTarget.cross_moments``.

Any quadratic-activation model with an offset is c + xᵀMx, whose risk is
2‖B - M‖²_F at the optimal c, so each regime is a matrix approximation
problem (docs/theory.md §1):

* RF: M ∈ span{w_i w_iᵀ}            → an N×N Gram solve, K_ij = 2(w_i·w_j)²;
* NT: M ∈ S_W = {M : P⊥MP⊥ = 0}      → R/R0 = ‖P⊥BP⊥‖²_F / ‖B‖²_F;
* NN: rank(M) ≤ N                    → Eckart-Young on |λ(B)| (``QuadraticTarget.nn_risk``).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ..tasks import QuadraticTarget
from ._linalg import psd_solve, psd_solve_quadform  # noqa: F401  (re-exported for exact.mixture)


def rf_explained(task: QuadraticTarget, W: np.ndarray) -> float:
    """Variance of f* explained by the best RF predictor: vᵀK⁺v (un-normalised)."""
    from .general import refuse_unresolved

    G = W @ W.T
    K = refuse_unresolved(2.0 * G * G, W, "(w_i·x)²")
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
    """‖P⊥BP⊥‖²_F / ‖B‖²_F: the NT risk with an offset (docs/theory.md §1.3).

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




def closed_form_risk(task: QuadraticTarget, regime: str, W: np.ndarray) -> float:
    """R/R0 of RF or NT for σ(u) = a u² + c0, in closed form (see the module docstring)."""
    if regime == "rf":
        return float(np.clip(1.0 - rf_explained(task, W) / task.r0, 0.0, 1.0))
    # NT: the second-layer term a_i (w_i·x)² lies in S_W already: same class
    return nt_risk(task, W)
