"""Exact population risks for the Gaussian mixture.

Quadratic activation: the closed forms below (fast paths). Any other
activation (or ``closed_form=False``): the general solver
:func:`lazytrain.exact.general.lazy_risk` under the two classes N(0, I ± Δ).

Every quadratic-activation model with an offset is c + xᵀMx, with M in a
linear space S fixed by the regime. For the mixture (docs/theory.md §2), with
L(M) = M + ΔMΔ, the best predictor in S has risk

    R_S = 1 / (1 + κ_S),   κ_S = ½ max_{M∈S} ⟨M, Δ⟩² / ⟨M, L M⟩ = ½ ⟨Π_SΔ, (Π_S L Π_S)⁻¹ Π_SΔ⟩,

* RF: S = span{w_i w_iᵀ}       → an N×N solve, κ = ½ uᵀK⁻¹u with
  K_ij = (w_i·w_j)² + (w_iᵀΔw_j)² and u_i = w_iᵀΔw_i;
* NT: S = S_W = {M : P⊥MP⊥ = 0} → conjugate gradients on S_W, matrix-free;
* NN: rank(M) ≤ N              → κ = ½ Σ_{j≤N} δ_(j)²/(1 + δ_(j)²), largest |δ| first.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from .._validation import check_weights
from ..regimes import check_regime
from ..tasks import GaussianMixture
from ._linalg import psd_solve
from .general import refuse_unresolved
from .quadratic import row_space_basis


def rf_kappa(task: GaussianMixture, W: np.ndarray, return_matrix: bool = False):
    """κ_RF = ½ uᵀK⁺u, K_ij = (w_i·w_j)² + (w_iᵀΔw_j)², u_i = w_iᵀΔw_i.

    The centred features φ_i = (w_i·x)² - ‖w_i‖² have covariance 2K + uuᵀ and
    covariance u_i with y; the explained fraction is κ/(1+κ), so R = 1/(1+κ).
    With ``return_matrix`` also M0 = Wᵀ diag(K⁺u) W (see :func:`best_predictor`).
    """
    G = W @ W.T
    WD = W * task._diag if task.is_diagonal else W @ task.Delta
    H = WD @ W.T
    K = refuse_unresolved(G * G + H * H, W, "(w_i·x)²")
    u = np.einsum("ij,ij->i", WD, W)
    alpha = psd_solve(K, u)
    kappa = 0.5 * float(u @ alpha)
    return (kappa, (W.T * alpha) @ W) if return_matrix else kappa


def _nt_setup(task: GaussianMixture, W: np.ndarray):
    """Rotate to the basis (span W, complement): Δ̃ = OΔOᵀ and the S_W mask.

    The rows of O are an orthonormal basis of span(W) (r rows) followed by
    one of its complement (d - r rows): the full QR of that basis.
    """
    V = row_space_basis(W)
    r, d = V.shape[0], task.d
    O = scipy.linalg.qr(V.T, mode="full", check_finite=False)[0].T if r < d else np.eye(d)
    Dt = O @ task.Delta @ O.T
    Dt = (Dt + Dt.T) / 2
    mask = np.ones((d, d), dtype=bool)
    mask[r:, r:] = False
    return Dt, mask, O


def _nt_operator(Dt: np.ndarray, mask: np.ndarray) -> scipy.sparse.linalg.LinearOperator:
    """Π L Π on flattened (d, d) arrays; Π zeroes the ⊥⊥ block (and symmetrises)."""
    d = Dt.shape[0]

    def matvec(v):
        X = v.reshape(d, d)
        X = np.where(mask, (X + X.T) / 2, 0.0)
        Y = X + Dt @ X @ Dt
        return np.where(mask, Y, 0.0).ravel()

    return scipy.sparse.linalg.LinearOperator((d * d, d * d), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def nt_kappa(task: GaussianMixture, W: np.ndarray, rtol: float = 1e-10, maxiter: int = 500,
             return_matrix: bool = False):
    """κ_NT = ½⟨ΠΔ, m⟩ with Π L Π m = ΠΔ on S_W, solved by conjugate gradients.

    In the basis (span W, complement), S_W is the set of symmetric matrices
    whose ⊥⊥ block vanishes. L = I + Δ⊗Δ has eigenvalues in
    [1 - ‖Δ‖²_op, 1 + ‖Δ‖²_op], so CG converges in a few tens of iterations.
    Each iteration costs two d×d matrix products. With ``return_matrix``
    also M0 = Oᵀ m O in the original coordinates (see :func:`best_predictor`).
    """
    Dt, mask, O = _nt_setup(task, W)
    b = np.where(mask, Dt, 0.0).ravel()
    if not np.any(b):
        return (0.0, np.zeros_like(Dt)) if return_matrix else 0.0
    op = _nt_operator(Dt, mask)
    m, info = scipy.sparse.linalg.cg(op, b, rtol=rtol, atol=0.0, maxiter=maxiter)
    if info != 0:
        raise RuntimeError(f"conjugate gradients on S_W did not converge in {maxiter} iterations (info={info})")
    kappa = 0.5 * float(b @ m)
    if not return_matrix:
        return kappa
    m = m.reshape(Dt.shape)
    return kappa, O.T @ ((m + m.T) / 2) @ O


def nt_kappa_dense(task: GaussianMixture, W: np.ndarray) -> float:
    """κ_NT by a dense solve in an explicit basis of S_W (for checking CG; O(d⁶)).

    The basis is the symmetric unit matrices E_ij + E_ji (i ≤ j) with (i, j)
    outside the ⊥⊥ block, in the rotated coordinates of :func:`nt_kappa`.
    """
    Dt, mask, _ = _nt_setup(task, W)
    idx = [(i, j) for i in range(task.d) for j in range(i, task.d) if mask[i, j]]
    basis = np.zeros((len(idx), task.d, task.d))
    for a, (i, j) in enumerate(idx):
        basis[a, i, j] = basis[a, j, i] = 1.0
    LB = basis + np.einsum("ik,akl,lj->aij", Dt, basis, Dt)
    gram = np.einsum("aij,bij->ab", basis, LB)
    rhs = np.einsum("aij,ij->a", basis, Dt)
    return 0.5 * float(rhs @ np.linalg.solve(gram, rhs))


def nn_kappa(task: GaussianMixture, n_neurons: int, return_matrix: bool = False):
    """κ_NN = ½ Σ_{j≤N} δ_(j)²/(1 + δ_(j)²): the best rank-N quadratic form.

    Second-layer weights of either sign (any symmetric rank-N M). With a
    positive second layer only the positive δ's can be used. In the
    eigenbasis of Δ, L is diagonal (1 + δ_j²), so with ``return_matrix`` M0 is
    diagonal there with entries δ_j/(1 + δ_j²) on the N largest |δ_j|.
    """
    lam = task.eigenvalues[:n_neurons]
    kappa = 0.5 * float(np.sum(lam**2 / (1.0 + lam**2)))
    if not return_matrix:
        return kappa
    top = np.argsort(-np.abs(task._eig), kind="stable")[:n_neurons]
    coef = task._eig[top] / (1.0 + task._eig[top] ** 2)
    if task.is_diagonal:
        M0 = np.zeros((task.d, task.d))
        M0[top, top] = coef
    else:
        V = task._eigvec[:, top]
        M0 = (V * coef) @ V.T
    return kappa, M0


_SOLVERS = {"rf": rf_kappa, "nt": nt_kappa, "nn": lambda task, W, **kw: nn_kappa(task, W.shape[0], **kw)}


def best_predictor(task: GaussianMixture, regime: str, W: np.ndarray):
    """The best predictor c + xᵀMx of a regime, for weights W (NN: only N = W.shape[0] is used).

    With κ and M0 = (Π_S L Π_S)⁻¹Π_SΔ from the regime's solver, the risk
    (1 - 2κt)² + 4κt² of M = t·M0 is least at t = 1/(2(1+κ)), where it equals
    1/(1+κ); the best offset is c = -Tr M.

    Returns
    -------
    M : ndarray of shape (d, d), symmetric
    c : float
    """
    regime = check_regime(regime)
    W = check_weights(W, task.d)
    kappa, M0 = _SOLVERS[regime](task, W, return_matrix=True)
    M = M0 / (2.0 * (1.0 + kappa))
    return M, -float(np.trace(M))


def closed_form_risk(task: GaussianMixture, regime: str, W: np.ndarray) -> float:
    """R/R0 = 1/(1 + κ) of RF or NT for σ(u) = a u² + c0 (NT: the second-layer term
    a_i (w_i·x)² lies in S_W already, so the class is the same)."""
    return 1.0 / (1.0 + _SOLVERS[regime](task, W))
