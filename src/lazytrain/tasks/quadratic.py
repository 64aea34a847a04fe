"""The quadratic target f*(x) = b0 + xᵀBx, x ~ N(0, I_d) (the paper's regression task)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .._validation import check_finite_matrix, check_positive_int
from .base import Task


class QuadraticTarget(Task):
    r"""Quadratic regression target f*(x) = offset + xᵀBx with x ~ N(0, I_d).

    Parameters
    ----------
    B : array_like of shape (d, d)
        Symmetric matrix of the quadratic form (symmetric to a relative
        tolerance of 1e-10; it is then symmetrised exactly).
    offset : float or None, default None
        The constant b0. None centres the target: b0 = -Tr B, so E f* = 0.

    Notes
    -----
    Gaussian moments used throughout (A, C symmetric):
    E[xᵀAx] = Tr A and Cov(xᵀAx, xᵀCx) = 2⟨A, C⟩_F. Hence the risk of a
    quadratic predictor c + xᵀMx is (b0 - c + Tr(B - M))² + 2‖B - M‖²_F
    and the trivial risk is R0 = Var f* = 2‖B‖²_F.

    Examples
    --------
    >>> task = QuadraticTarget.paper(d=450, seed=100)
    >>> round(float(task.B.diagonal().sum() * np.sqrt(450)), 3)
    456.057
    """

    kind = "quadratic"

    def __init__(self, B, offset=None):
        B = check_finite_matrix("B", B, symmetric=True)
        self.B = B
        self.d = B.shape[0]
        if offset is None:
            offset = -float(np.trace(B))
        try:
            offset = float(offset)
        except (TypeError, ValueError):
            raise ValueError(f"offset must be a finite number or None, got {offset!r}") from None
        if not np.isfinite(offset):
            raise ValueError(f"offset must be a finite number or None, got {offset}")
        self.offset = offset
        if not np.any(B):
            raise ValueError("B must not be the zero matrix: the target would be constant (R0 = 0)")
        self._diag = np.diag(B).copy() if np.count_nonzero(B - np.diag(np.diag(B))) == 0 else None

    @classmethod
    def paper(cls, d: int = 450, seed: int = 100) -> "QuadraticTarget":
        """The authors' target: B = diag(γ)/√d with γ_j ~ Exp(1), centred.

        γ is drawn exactly as in the companion code,
        ``numpy.random.seed(seed); numpy.random.exponential(1, size=d)``
        (the legacy global generator; its state is saved and restored).
        """
        d = check_positive_int("d", d)
        state = np.random.get_state()
        try:
            np.random.seed(seed)
            gamma = np.random.exponential(1, size=d)
        finally:
            np.random.set_state(state)
        task = cls(np.diag(gamma / np.sqrt(d)))
        task.spec = {"name": "paper", "d": d, "seed": seed}
        return task

    # ------------------------------------------------------------------ moments
    @property
    def is_diagonal(self) -> bool:
        """True when B is diagonal (sampling then costs O(nd))."""
        return self._diag is not None

    @cached_property
    def trace(self) -> float:
        """Tr B."""
        return float(np.trace(self.B))

    @property
    def y_mean(self) -> float:
        """E f* = b0 + Tr B."""
        return self.offset + self.trace

    @cached_property
    def frob2(self) -> float:
        """‖B‖²_F."""
        return float(np.sum(self.B * self.B))

    @property
    def r0(self) -> float:
        """Risk of the best constant predictor, R0 = Var f* = 2‖B‖²_F."""
        return 2.0 * self.frob2

    @property
    def tau(self) -> float:
        """τ = Tr(B)² / (d ‖B‖²_F) ∈ [0, 1]."""
        return self.trace**2 / (self.d * self.frob2)

    @cached_property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of B, ordered by decreasing absolute value."""
        lam = self._diag if self._diag is not None else np.linalg.eigvalsh(self.B)
        return lam[np.argsort(-np.abs(lam), kind="stable")]

    @property
    def is_psd(self) -> bool:
        """True when B ⪰ 0 (to rounding)."""
        lam = self.eigenvalues
        return bool(lam.min() >= -1e-12 * np.abs(lam).max())

    # ------------------------------------------------------------------ sampling
    def target(self, x: np.ndarray) -> np.ndarray:
        """f*(x) for the rows of x (shape (n, d))."""
        x = np.asarray(x, dtype=np.float64)
        if self._diag is not None:
            return (x * x) @ self._diag + self.offset
        return np.einsum("ni,ni->n", x @ self.B, x) + self.offset

    def _draw(self, ops, n):
        """x ~ N(0, I_d), y = f*(x): O(nd) when B is diagonal, O(nd²) otherwise."""
        x = ops.normal(n, self.d)
        return x, self._labels(ops, x)

    def _labels(self, ops, x):
        """f*(x) for the rows of x, written against ``ops`` (numpy or torch; also used by
        :class:`~lazytrain.tasks.SpikedCovariates` on its standardised signal block)."""
        if self._diag is not None:
            y = (x * x) @ ops.const("diag", lambda: self._diag)
        else:
            y = ops.rowdot(x @ ops.const("B", lambda: self.B), x)
        return y + self.offset

    # ------------------------------------------------------------------ exact-solver moments
    def cross_moments(self, W, activation):
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
        """
        q = np.einsum("ij,ij->i", W, W)
        b = activation.hermite_coefficients(4, q)
        BW = W @ self.B  # rows (B w_i)ᵀ, B symmetric
        ratio = np.einsum("ij,ij->i", BW, W) / q
        rf = ratio * np.sqrt(2.0) * b[:, 2]
        nt = (ratio * np.sqrt(24.0) * b[:, 4] / q)[:, None] * W + (2.0 * np.sqrt(2.0) * b[:, 2] / q)[:, None] * BW
        return rf, nt

    def cross_moment_errors(self, W, activation):
        """Error estimates of :meth:`cross_moments`, from those of b₂ and b₄."""
        q = np.einsum("ij,ij->i", W, W)
        _, be = activation.hermite_coefficients(4, q, return_error=True)
        BW = W @ self.B
        ratio = np.abs(np.einsum("ij,ij->i", BW, W)) / q
        rf = ratio * np.sqrt(2.0) * be[:, 2]
        nt = ((ratio * np.sqrt(24.0) * be[:, 4] / q)[:, None] * np.abs(W)
              + (2.0 * np.sqrt(2.0) * be[:, 2] / q)[:, None] * np.abs(BW))
        return rf, nt

    def nn_risk(self, n_neurons: int) -> float:
        """Theorem 3 (NN), exact: Σ_{i>N} λ_i(B)² / Σ_i λ_i(B)², eigenvalues by decreasing |λ|.

        The quadratic-activation networks with N neurons and an offset are the
        forms c + xᵀMx with rank M ≤ N (second-layer weights of either sign);
        Eckart-Young on |λ(B)| gives the best one.
        """
        n = check_positive_int("n_neurons", n_neurons)
        lam2 = self.eigenvalues**2
        return float(lam2[n:].sum() / lam2.sum())

    def as_hermite(self):
        """This target as a :class:`~lazytrain.tasks.HermiteTarget` (same risks).

        With B = Σ_j λ_j u_j u_jᵀ (``numpy.linalg.eigh``, orthonormal u_j) and
        He₂(t) = t² − 1, xᵀBx = Tr B + Σ_j λ_j He₂(⟨u_j, x⟩): the Hermite target
        with one direction per nonzero eigenvalue and coefficient λ_j on degree
        2 (none on degree 1). The constant b0 + Tr B is dropped: every model
        has a free offset and every risk is R/R0 with R0 = Var f*, so the two
        tasks give the same normalised risks (a non-centred target only
        shifts the mean, which the offset absorbs).

        Returns
        -------
        HermiteTarget
            directions of shape (k, d), coefficients of shape (k, 2), k the
            number of eigenvalues above 1e-14·max|λ|.
        """
        from .hermite import HermiteTarget

        if self._diag is not None:
            lam, vec = self._diag, np.eye(self.d)
        else:
            lam, vec = np.linalg.eigh(self.B)
        keep = np.abs(lam) > 1e-14 * np.abs(lam).max()
        coef = np.zeros((int(keep.sum()), 2))
        coef[:, 1] = lam[keep]
        return HermiteTarget(vec[:, keep].T, coef)

    # ------------------------------------------------------------------ risks
    def predictor_risk(self, M, c=None, normalized: bool = True) -> float:
        """Population risk of the quadratic predictor f(x) = c + xᵀMx.

        R = (b0 - c + Tr(B - M))² + 2‖B - M‖²_F, exactly (no sampling).

        Parameters
        ----------
        M : array_like of shape (d, d)
            The predictor's matrix (symmetrised: only its symmetric part matters).
        c : float or None
            The predictor's offset; None uses the optimal one, c = b0 + Tr(B - M).
        normalized : bool, default True
            Divide by R0 = 2‖B‖²_F.
        """
        M = check_finite_matrix("M", M)
        if M.shape != self.B.shape:
            raise ValueError(f"M must have shape {self.B.shape}, got {M.shape}")
        D = self.B - (M + M.T) / 2
        mean_err = 0.0 if c is None else self.offset - float(c) + float(np.trace(D))
        risk = mean_err**2 + 2.0 * float(np.sum(D * D))
        return risk / self.r0 if normalized else risk

    def predictor_risk_grad(self, M, c=None, normalized: bool = True):
        """Risk of c + xᵀMx and its gradient with respect to (M, c).

        With e = b0 - c + Tr(B - M) and D = B - M (M symmetric),
        R = e² + 2‖D‖²_F, ∂R/∂M = -2e I - 4D, ∂R/∂c = -2e.
        The population gradient flow (``train(..., method="flow")``) uses
        only this method, so a task that implements it (with the same
        signature and conventions) gets the flow for free.

        Parameters
        ----------
        M : array_like of shape (d, d)
            Symmetric part is used.
        c : float or None
            None uses the optimal offset (then ∂R/∂c = 0 and e = 0).
        normalized : bool, default True
            Divide risk and gradients by R0.

        Returns
        -------
        risk : float
        grad_M : ndarray of shape (d, d), symmetric
        grad_c : float
        """
        M = check_finite_matrix("M", M)
        if M.shape != self.B.shape:
            raise ValueError(f"M must have shape {self.B.shape}, got {M.shape}")
        D = self.B - (M + M.T) / 2
        e = 0.0 if c is None else self.offset - float(c) + float(np.trace(D))
        risk = e * e + 2.0 * float(np.sum(D * D))
        grad_M = -4.0 * D
        grad_M[np.diag_indices_from(grad_M)] -= 2.0 * e
        grad_c = -2.0 * e
        scale = 1.0 / self.r0 if normalized else 1.0
        return risk * scale, grad_M * scale, grad_c * scale

    def __repr__(self) -> str:
        spec = getattr(self, "spec", None)
        if spec:
            return f"QuadraticTarget.paper(d={spec['d']}, seed={spec['seed']})"
        return f"QuadraticTarget(d={self.d}, tau={self.tau:.4g}, offset={self.offset:.4g})"
