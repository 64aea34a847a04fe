"""Random first-layer weights."""

from __future__ import annotations

import numpy as np

from ._validation import as_generator, check_finite_matrix, check_positive_int


def weight_cov_factor(d: int, cov=None) -> np.ndarray | None:
    """Return a matrix L with L Lᵀ = cov (or None for the default I/d).

    ``cov`` may be None (I_d/d), a 1-D array of d variances (a diagonal
    covariance) or a symmetric positive semi-definite (d, d) matrix.
    """
    if cov is None:
        return None
    arr = np.asarray(cov, dtype=np.float64)
    if arr.ndim == 1:
        if arr.shape != (d,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(
                f"cov given as a vector must hold d = {d} finite non-negative variances, "
                f"got shape {arr.shape} with min {np.min(arr) if arr.size else 'n/a'}"
            )
        return np.diag(np.sqrt(arr))
    arr = check_finite_matrix("cov", arr, symmetric=True, rtol=1e-8)
    if arr.shape != (d, d):
        raise ValueError(f"cov must have shape (d, d) = ({d}, {d}), got {arr.shape}")
    lam, vec = np.linalg.eigh(arr)
    if lam[0] < -1e-10 * max(abs(lam[-1]), 1e-300):
        raise ValueError(f"cov must be positive semi-definite, but its smallest eigenvalue is {lam[0]:.3g}")
    return vec * np.sqrt(np.clip(lam, 0, None))


def weight_covariance(d: int, cov=None) -> np.ndarray:
    """The (d, d) covariance Γ of the rows of :func:`random_weights` (default I_d/d)."""
    L = weight_cov_factor(d, cov)
    return np.eye(d) / d if L is None else L @ L.T


def random_weights(d, n_neurons, seed=0, cov=None) -> np.ndarray:
    """Draw a first-layer weight matrix with i.i.d. Gaussian rows.

    Parameters
    ----------
    d : int
        Input dimension.
    n_neurons : int
        Number of neurons N.
    seed : int or numpy.random.Generator, default 0
        Seed of the draw; the same seed gives the same matrix.
    cov : None, array of shape (d,) or (d, d), optional
        Covariance Γ of each row. None (default) means Γ = I_d/d, the
        paper's choice; a vector means diag(cov).

    Returns
    -------
    W : ndarray of shape (n_neurons, d), float64
        Row i is w_i ~ N(0, Γ).

    Examples
    --------
    >>> W = random_weights(450, 30, seed=1)
    >>> W.shape
    (30, 450)
    """
    d = check_positive_int("d", d)
    n = check_positive_int("n_neurons", n_neurons)
    L = weight_cov_factor(d, cov)
    rng = as_generator(seed)
    Z = rng.standard_normal((n, d))
    return Z / np.sqrt(d) if L is None else Z @ L.T
