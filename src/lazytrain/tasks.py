"""Learning tasks: sampling and the Gaussian moments the solvers need.

Every task reports risks normalised by ``r0``, the risk of the best
constant predictor (Var f* for a regression target).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ._validation import as_generator, check_finite_matrix, check_positive_int


class QuadraticTarget:
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

    def sample(self, n, rng=None):
        """Draw n i.i.d. pairs (x, y) with x ~ N(0, I_d) and y = f*(x).

        Parameters
        ----------
        n : int
            Number of samples.
        rng : numpy.random.Generator or int, optional
            Source of randomness (default: seed 0).

        Returns
        -------
        x : ndarray of shape (n, d)
        y : ndarray of shape (n,)
        """
        n = check_positive_int("n", n)
        rng = as_generator(0 if rng is None else rng, "rng")
        x = rng.standard_normal((n, self.d))
        return x, self.target(x)

    def sample_torch(self, n, generator, device="cpu", dtype=None):
        """Draw n pairs (x, y) as torch tensors, for the training loop.

        Parameters
        ----------
        n : int
            Number of samples.
        generator : torch.Generator
            Source of randomness; must live on ``device``.
        device : str or torch.device, default 'cpu'
        dtype : torch.dtype, default torch.float32

        Returns
        -------
        x : Tensor of shape (n, d)
            x ~ N(0, I_d).
        y : Tensor of shape (n,)
            y = f*(x); O(nd) when B is diagonal, O(nd²) otherwise.
        """
        import torch  # lazy: the numpy layers of lazytrain do not need torch

        dtype = torch.float32 if dtype is None else dtype
        key = (str(device), dtype)
        cache = self.__dict__.setdefault("_torch_cache", {})
        if key not in cache:
            mat = self._diag if self._diag is not None else self.B
            cache[key] = torch.as_tensor(mat, dtype=dtype, device=device)
        mat = cache[key]
        x = torch.randn((int(n), self.d), generator=generator, device=device, dtype=dtype)
        if self._diag is not None:
            y = torch.mv(x * x, mat)
        else:
            y = ((x @ mat) * x).sum(dim=1)
        return x, y.add_(self.offset)

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
        R = e² + 2‖D‖²_F, ∂R/∂M = -2e I - 4D, ∂R/∂c = -2e (paper.md §5.5).
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
