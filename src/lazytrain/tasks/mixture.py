"""Two centred Gaussian classes that differ in covariance (the paper's classification task)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .._chi2 import prob_negative
from .._validation import as_generator, check_finite_matrix, check_positive_float, check_positive_int
from .base import Component, Task


class GaussianMixture(Task):
    r"""Two centred Gaussian classes that differ in covariance (arXiv:1906.08899; docs/theory.md §2).

    y = ±1 with probability ½ each, x | y ~ N(0, I_d + yΔ). The loss is the
    square loss on the label, so the trivial predictor f = 0 (the best
    constant) has risk R0 = 1.

    Parameters
    ----------
    Delta : array_like of shape (d, d)
        Symmetric matrix with ‖Δ‖_op < 1, so that both covariances I ± Δ are
        positive definite (symmetric to a relative tolerance of 1e-10; it is
        then symmetrised exactly).

    Notes
    -----
    With s = ⟨M, Δ⟩_F and c' = c + Tr M, the exact risk of the quadratic
    predictor f(x) = c + xᵀMx is (docs/theory.md §2.1)

        R(c, M) = (1 - s)² + c'² + 2‖M‖²_F + 2 Tr(MΔMΔ),

    since E[f | y] = c' + ys and E_y Var(f | y) = 2⟨M, M + ΔMΔ⟩_F.

    Examples
    --------
    >>> task = GaussianMixture(np.diag([0.3, -0.2, 0.1]))
    >>> task.r0, round(task.frob2, 2)
    (1.0, 0.14)
    >>> x, y = task.sample(4, rng=0)
    >>> x.shape, sorted(set(y.tolist())) <= [-1.0, 1.0]
    ((4, 3), True)
    """

    kind = "mixture"
    r0 = 1.0

    def __init__(self, Delta):
        Delta = check_finite_matrix("Delta", Delta, symmetric=True)
        self.Delta = Delta
        self.d = Delta.shape[0]
        offdiag = Delta - np.diag(np.diag(Delta))
        if np.count_nonzero(offdiag) == 0:
            self._diag = np.diag(Delta).copy()
            lam, vec = self._diag, None
        else:
            self._diag = None
            lam, vec = np.linalg.eigh(Delta)
        self._eig, self._eigvec = lam, vec
        op = float(np.max(np.abs(lam)))
        if op >= 1.0:
            j = int(np.argmax(np.abs(lam)))
            raise ValueError(
                f"Delta must have operator norm < 1 so that I ± Delta are positive definite, "
                f"got ‖Delta‖op = {op:.6g} (eigenvalue {lam[j]:.6g}), which exceeds the limit "
                f"by {op - 1.0:.3g}"
            )

    @staticmethod
    def default_frob2(d: int) -> float:
        """The default ‖Δ‖²_F of :meth:`paper`: 4 for d >= 450, 4·d/450 below.

        Valid at every d: ‖Δ‖_op ≈ max_j |z_j| · √(frob2/d) stays near 0.29 (d = 450's)
        instead of growing like 2·max|z|/√d, and for d < 112 ‖Δ‖_op <= √frob2 < 1 always.
        """
        return 4.0 * min(1.0, d / 450)

    @classmethod
    def paper(cls, d: int = 450, seed: int = 0, frob2: float | None = None) -> "GaussianMixture":
        r"""A paper-like mixture: diagonal Δ = α diag(|z_j|), z_j ~ N(0, 1), ‖Δ‖²_F = frob2.

        ``frob2`` defaults to :meth:`default_frob2` (4 at the paper's d = 450), a
        value valid at every d; a larger frob2 at small d can make ‖Δ‖_op >= 1,
        which is refused with the largest frob2 that the draw allows.

        The Δ of the paper's Figure 2 (arXiv:1906.08899) is unknown (docs/theory.md §2.4); this is our choice:

        * a positive spectrum spread over [0, ‖Δ‖_op], so that NN gains by
          fitting the largest eigendirections, Tr Δ ≠ 0 so that RF is not
          trivial (τ_Δ ≈ 2/π), and an SGD-trained network with a positive
          second layer can reach the rank-N optimum;
        * the small-Δ regime of the theory: entries of order 1/√d and
          ‖Δ‖_F = Θ(1). frob2 = 4 at d = 450 gives ‖Δ‖_op ≈ 0.29 and a risk
          of 1/3 for the best quadratic predictor, with well separated
          RF/NT/NN curves. The half-normal spectrum has a lighter tail than
          Exp(1) (the quadratic target's): with Exp(1), ‖Δ‖_op ≈ 0.5 and the
          small-Δ theory misses the exact NN risk by 0.02 at N = 30.

        The entries are ``abs(numpy.random.default_rng(seed).standard_normal(d))``,
        rescaled so that ‖Δ‖²_F equals frob2 exactly.
        """
        d = check_positive_int("d", d)
        frob2 = cls.default_frob2(d) if frob2 is None else check_positive_float("frob2", frob2)
        gamma = np.abs(as_generator(seed).standard_normal(d))
        delta = gamma * np.sqrt(frob2 / np.sum(gamma**2))
        op = float(np.max(delta))
        if op >= 1.0:
            raise ValueError(
                f"frob2 = {frob2:g} at d = {d} (seed {seed}) gives ‖Δ‖op = {op:.3g}, but I ± Δ must "
                f"be positive definite (‖Δ‖op < 1): use frob2 < {frob2 / op**2:.3g}, or the "
                f"default frob2 = {cls.default_frob2(d):.3g} (GaussianMixture.default_frob2(d))")
        task = cls(np.diag(delta))
        task.spec = {"name": "paper", "d": d, "seed": seed, "frob2": frob2}
        return task

    # ------------------------------------------------------------------ moments
    @property
    def is_diagonal(self) -> bool:
        """True when Δ is diagonal (sampling then costs O(nd))."""
        return self._diag is not None

    @cached_property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues δ_j of Δ, ordered by decreasing |δ|."""
        lam = self._eig
        return lam[np.argsort(-np.abs(lam), kind="stable")]

    @property
    def op_norm(self) -> float:
        """‖Δ‖_op = max_j |δ_j| (< 1)."""
        return float(np.abs(self.eigenvalues[0]))

    @cached_property
    def trace(self) -> float:
        """Tr Δ."""
        return float(np.sum(self._eig))

    @cached_property
    def frob2(self) -> float:
        """‖Δ‖²_F = Σ δ_j²."""
        return float(np.sum(self._eig**2))

    @property
    def tau(self) -> float:
        """τ_Δ = Tr(Δ)² / (d ‖Δ‖²_F) ∈ [0, 1] (0 when Δ = 0)."""
        return self.trace**2 / (self.d * self.frob2) if self.frob2 > 0 else 0.0

    def cov_operator(self, M: np.ndarray) -> np.ndarray:
        """L(M) = M + ΔMΔ, so that E_y Var(xᵀMx | y) = 2⟨M, L(M)⟩_F for symmetric M.

        L is self-adjoint for the Frobenius product, with eigenvalues
        1 + δ_iδ_j ∈ [1 - ‖Δ‖²_op, 1 + ‖Δ‖²_op] on symmetric matrices.
        """
        if self._diag is not None:
            return M + self._diag[:, None] * M * self._diag[None, :]
        return M + self.Delta @ M @ self.Delta

    # ------------------------------------------------------------------ sampling
    def _sqrt_cov(self, sign: int) -> np.ndarray:
        """(I + sign·Δ)^{1/2}: a vector for diagonal Δ, else a (d, d) matrix."""
        root = np.sqrt(1.0 + sign * self._eig)
        if self._diag is not None:
            return root
        return (self._eigvec * root) @ self._eigvec.T

    def _draw(self, ops, n):
        """y = ±1 with probability ½, then x | y ~ N(0, I + yΔ) as (I + yΔ)^{1/2} z."""
        y = ops.sign(n)
        z = ops.normal(n, self.d)
        plus = ops.const("plus", lambda: self._sqrt_cov(+1))
        minus = ops.const("minus", lambda: self._sqrt_cov(-1))
        pos = (y > 0)[:, None]
        if self._diag is not None:
            x = z * ops.where(pos, plus, minus)
        else:
            x = ops.where(pos, z @ plus, z @ minus)
        return x, y

    @property
    def components(self) -> tuple:
        """The two classes N(0, I ± Δ), weight ½ each."""
        eye = np.eye(self.d)
        return (Component(0.5, eye + self.Delta), Component(0.5, eye - self.Delta))

    def cross_moments(self, W, activation):
        """Cov(y, φ) = ½(E₊φ − E₋φ): half-differences of the class means of the features.

        Under N(0, Σ): E σ(u_i) from the activation's moments at q_i = w_iᵀΣw_i,
        and E[x σ'(u_i)] = E[σ''(u_i)] Σw_i (Stein); see :meth:`Component.feature_means`.
        """
        (rf_p, nt_p), (rf_n, nt_n) = (comp.feature_means(W, activation) for comp in self.components)
        return (rf_p - rf_n) / 2, (nt_p - nt_n) / 2

    def cross_moment_errors(self, W, activation):
        """Error estimates of :meth:`cross_moments` (half-sums of the class means' estimates)."""
        (rf_p, nt_p), (rf_n, nt_n) = (comp.feature_mean_errors(W, activation) for comp in self.components)
        return (rf_p + rf_n) / 2, (nt_p + nt_n) / 2

    def nn_risk(self, n_neurons: int) -> float:
        """1/(1 + κ_NN), κ_NN = ½ Σ_{j≤N} δ_(j)²/(1 + δ_(j)²): the best rank-N quadratic form."""
        lam = self.eigenvalues[: check_positive_int("n_neurons", n_neurons)]
        return 1.0 / (1.0 + 0.5 * float(np.sum(lam**2 / (1.0 + lam**2))))

    def quadratic_form_columns(self, M, c) -> dict:
        """The 0-1 error of the predictor c + xᵀMx (Figure 2, right)."""
        return {"error": self.predictor_error(M, c)}

    def log_likelihood_ratio(self, x) -> np.ndarray:
        """log p(x | y=+1) - log p(x | y=-1) for the rows of x (shape (n, d)).

        In the eigenbasis of Δ: Σ_j δ_j x_j²/(1 - δ_j²) - ½ Σ_j log((1+δ_j)/(1-δ_j)).
        """
        x = np.asarray(x, dtype=np.float64)
        if self._eigvec is not None:
            x = x @ self._eigvec
        lam = self._eig
        return (x * x) @ (lam / (1 - lam**2)) - 0.5 * float(np.sum(np.log1p(lam) - np.log1p(-lam)))

    # ------------------------------------------------------------------ risks
    def _check_M(self, M) -> np.ndarray:
        M = check_finite_matrix("M", M)
        if M.shape != (self.d, self.d):
            raise ValueError(f"M must have shape {(self.d, self.d)}, got {M.shape}")
        return (M + M.T) / 2

    def predictor_risk(self, M, c=None, normalized: bool = True) -> float:
        """Population risk of the quadratic predictor f(x) = c + xᵀMx, exactly.

        R = (1 - s)² + c'² + 2‖M‖²_F + 2 Tr(MΔMΔ) with s = ⟨M, Δ⟩_F and
        c' = c + Tr M (docs/theory.md §2.1).

        Parameters
        ----------
        M : array_like of shape (d, d)
            The predictor's matrix (symmetrised: only its symmetric part matters).
        c : float or None
            The predictor's offset; None uses the optimal one, c = -Tr M.
        normalized : bool, default True
            Divide by R0 = 1 (kept for the same signature as QuadraticTarget).
        """
        M = self._check_M(M)
        s = float(np.sum(M * self.Delta))
        mean_err = 0.0 if c is None else float(c) + float(np.trace(M))
        risk = (1.0 - s) ** 2 + mean_err**2 + 2.0 * float(np.sum(M * self.cov_operator(M)))
        return risk / self.r0 if normalized else risk

    def predictor_error(self, M, c=None, tol: float = 1e-6) -> float:
        """0-1 error P(sign(c + xᵀMx) ≠ y) of the quadratic predictor, exactly.

        Given y, xᵀMx = Σ_j μ_j χ²_{1,j} with μ the eigenvalues of
        (I + yΔ)^{1/2} M (I + yΔ)^{1/2}; the probability that c + xᵀMx has the
        wrong sign is a characteristic-function inversion (Gil-Pelaez/Imhof,
        :mod:`lazytrain._chi2`). Costs two d×d symmetric eigenvalue problems.

        Parameters
        ----------
        M : array_like of shape (d, d)
        c : float or None
            The offset; None uses the square-loss optimal one, c = -Tr M.
        tol : float
            Bound on the truncated tail of the inversion integrals.
        """
        M = self._check_M(M)
        c = -float(np.trace(M)) if c is None else float(c)
        err = 0.0
        for sign in (+1, -1):
            root = self._sqrt_cov(sign)
            A = root[:, None] * M * root[None, :] if root.ndim == 1 else root @ M @ root
            mu = np.linalg.eigvalsh((A + A.T) / 2)
            # y = +1 errs when c + Q < 0; y = -1 errs when -c - Q < 0
            err += 0.5 * prob_negative(sign * mu, -sign * c, tol)
        return float(err)

    def predictor_risk_grad(self, M, c=None, normalized: bool = True):
        """Risk of c + xᵀMx and its gradient with respect to (M, c), for the population flow.

        Same signature and conventions as ``QuadraticTarget.predictor_risk_grad``.
        With s = ⟨M, Δ⟩_F and c' = c + Tr M (c = None: the optimal offset, c' = 0),
        ∇_M R = -2(1 - s)Δ + 2c'I + 4(M + ΔMΔ) and ∂R/∂c = 2c'. For a network
        M = (1/N)Σ a_i w_i w_iᵀ, ∂R/∂w_i = (2a_i/N)(∇_M R)w_i and
        ∂R/∂a_i = (1/N) w_iᵀ(∇_M R)w_i.

        Returns
        -------
        risk : float
        grad_M : ndarray of shape (d, d), symmetric
        grad_c : float
        """
        M = self._check_M(M)
        s = float(np.sum(M * self.Delta))
        cp = 0.0 if c is None else float(c) + float(np.trace(M))
        LM = self.cov_operator(M)
        risk = (1.0 - s) ** 2 + cp * cp + 2.0 * float(np.sum(M * LM))
        grad = -2.0 * (1.0 - s) * self.Delta + 4.0 * LM
        grad[np.diag_indices(self.d)] += 2.0 * cp
        scale = 1.0 / self.r0 if normalized else 1.0
        return risk * scale, grad * scale, 2.0 * cp * scale

    def __repr__(self) -> str:
        spec = getattr(self, "spec", None)
        if spec:
            return f"GaussianMixture.paper(d={spec['d']}, seed={spec['seed']}, frob2={spec['frob2']:g})"
        return f"GaussianMixture(d={self.d}, frob2={self.frob2:.4g}, op_norm={self.op_norm:.4g})"
