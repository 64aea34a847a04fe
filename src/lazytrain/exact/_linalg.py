"""Small linear-algebra helpers shared by the exact solvers."""

from __future__ import annotations

import numpy as np
import scipy.linalg


def psd_solve(K: np.ndarray, v: np.ndarray) -> np.ndarray:
    """α = K⁺v for a symmetric PSD K, safe when K is singular or ill-conditioned.

    Tries a Cholesky solve and checks its residual; falls back to an
    eigendecomposition with a relative cut-off (the pseudo-inverse) when K is
    numerically singular (e.g. RF with N > d(d+1)/2 features).
    """
    if not float(np.max(np.diag(K))) > 0:
        return np.zeros_like(v)
    try:
        cho = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
        alpha = scipy.linalg.cho_solve(cho, v, check_finite=False)
        resid = np.linalg.norm(K @ alpha - v) / max(np.linalg.norm(v), 1e-300)
        if np.all(np.isfinite(alpha)) and resid < 1e-8:
            return alpha
    except np.linalg.LinAlgError:
        pass
    lam, U = scipy.linalg.eigh(K, check_finite=False)
    keep = lam > lam[-1] * K.shape[0] * np.finfo(float).eps * 10
    return U[:, keep] @ ((U[:, keep].T @ v) / lam[keep])


def psd_solve_quadform(K: np.ndarray, v: np.ndarray) -> float:
    """vᵀK⁺v for a symmetric PSD K (see :func:`psd_solve`)."""
    return float(v @ psd_solve(K, v))
