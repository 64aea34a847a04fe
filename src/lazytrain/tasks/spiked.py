r"""Spiked covariates: a signal block of inputs with a larger variance carries the target.

The model of Ghorbani, Mei, Misiakiewicz & Montanari, "When do neural
networks outperform kernel methods?" (arXiv:2006.13409), with Gaussian
inputs: x ~ N(0, Σ), Σ = diag(d^κ on the first ``signal_dim`` coordinates,
1 on the others), and a target that depends on the signal block only,
through its standardised coordinates z_s = x_s / d^(κ/2).

Everything follows from one change of variables (docs/theory.md, "Spiked
covariates"): with z = Σ^{-1/2} x ~ N(0, I_d), the target is the isotropic
target f̃ (the given target with zero-padded matrix or directions) of z, a
neuron σ(⟨w, x⟩) = σ(⟨Σ^{1/2}w, z⟩), and the NT features x σ'(⟨w, x⟩) =
Σ^{1/2} z σ'(⟨w̃, z⟩) span the same class as z σ'(⟨w̃, z⟩). Hence, for any
activation, the RF and NT risks of weights W equal those of the isotropic
task at W̃ = W Σ^{1/2}, and a quadratic predictor c + xᵀMx is the isotropic
one c + zᵀ(Σ^{1/2} M Σ^{1/2})z (same rank: the NN optimum does not depend on κ).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_positive_int
from .base import STANDARD, Component, Task
from .hermite import HermiteTarget
from .quadratic import QuadraticTarget


def _check_kappa(kappa) -> float:
    try:
        value = float(kappa)
    except (TypeError, ValueError):
        raise ValueError(f"kappa must be a finite number (the signal variance is d^kappa), got {kappa!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"kappa must be a finite number (the signal variance is d^kappa), got {value}")
    return value


class SpikedCovariates(Task):
    r"""Spiked covariates: x ~ N(0, Σ), Σ = diag(d^κ I_{d_s}, I_{d−d_s}), y = f*(x_s / d^(κ/2)).

    Parameters
    ----------
    d : int
        Input dimension.
    signal_dim : int
        d_s, the number of signal coordinates (the first d_s), 1 ≤ d_s ≤ d.
        The sequel takes d_s = ⌊d^η⌋ with η = 2/5.
    kappa : float
        The signal coordinates have variance d^κ (κ = 0: isotropic inputs).
    target : QuadraticTarget or HermiteTarget of dimension ``signal_dim``
        The target as a function of the standardised signal coordinates
        z_s = x_s / d^(κ/2) ~ N(0, I_{d_s}); its R0, offset and law of y do not
        depend on κ.

    Notes
    -----
    ``isotropic`` is the target of z = Σ^{-1/2}x ~ N(0, I_d): the given target
    with its matrix (or directions) padded by zeros. The RF/NT cross moments
    are those of ``isotropic`` at W̃ = WΣ^{1/2}, the NT ones multiplied by
    Σ^{1/2}; the risk of c + xᵀMx is that of c + zᵀ(Σ^{1/2}MΣ^{1/2})z.

    Examples
    --------
    >>> import numpy as np
    >>> task = SpikedCovariates(64, 5, 0.5, QuadraticTarget(np.diag([1.0, 2, 3, 4, 5])))
    >>> task.variances[:6], task.r0
    (array([8., 8., 8., 8., 8., 1.]), 110.0)
    """

    kind = "spiked"

    def __init__(self, d, signal_dim, kappa, target):
        self.d = check_positive_int("d", d)
        self.signal_dim = check_positive_int("signal_dim", signal_dim)
        if self.signal_dim > self.d:
            raise ValueError(f"signal_dim must be <= d = {self.d} (the signal block is the first "
                             f"signal_dim coordinates), got {self.signal_dim}")
        self.kappa = _check_kappa(kappa)
        if not isinstance(target, (QuadraticTarget, HermiteTarget)):
            raise ValueError(f"target must be a QuadraticTarget or a HermiteTarget of dimension signal_dim = "
                             f"{self.signal_dim}, got {type(target).__name__}")
        if target.d != self.signal_dim:
            raise ValueError(f"target must have dimension signal_dim = {self.signal_dim}, got a "
                             f"{type(target).__name__} of dimension {target.d}")
        self.target_task = target
        s = self.signal_dim
        #: Per-coordinate variances, the diagonal of Σ.
        self.variances = np.ones(self.d)
        self.variances[:s] = float(self.d) ** self.kappa
        #: Their square roots, the diagonal of Σ^{1/2}.
        self.scales = np.sqrt(self.variances)
        if isinstance(target, QuadraticTarget):
            B = np.zeros((self.d, self.d))
            B[:s, :s] = target.B
            self.isotropic = QuadraticTarget(B, offset=target.offset)
        else:
            U = np.zeros((target.k, self.d))
            U[:, :s] = target.directions
            self.isotropic = HermiteTarget(U, target.coefficients)

    # ------------------------------------------------------------------ law of (x, y)
    @property
    def r0(self) -> float:
        """R0 = Var y, that of the target (independent of κ)."""
        return self.isotropic.r0

    @property
    def y_mean(self) -> float:
        """E y, that of the target."""
        return self.isotropic.y_mean

    @property
    def effective_dimension(self) -> float:
        """The sequel's d_eff = max(d_s, d^(1−κ)) (arXiv:2006.13409; d_s = d^η there)."""
        return max(float(self.signal_dim), float(self.d) ** (1.0 - self.kappa))

    @property
    def components(self) -> tuple:
        """One centred Gaussian N(0, Σ), Σ = diag(``variances``), given as the vector of variances
        (a diagonal :class:`Component`); N(0, I) exactly at κ = 0."""
        if self.kappa == 0.0:
            return STANDARD
        return (Component(1.0, self.variances),)

    def target(self, x) -> np.ndarray:
        """f*(x) for the rows of x (shape (n, d))."""
        return self.isotropic.target(np.asarray(x, dtype=np.float64) / self.scales)

    def _draw(self, ops, n):
        """z ~ N(0, I_d), x = Σ^{1/2} z, y = f*(z_s): the target's own label code on z_s."""
        z = ops.normal(n, self.d)
        x = z * ops.const("scales", lambda: self.scales)
        return x, self.target_task._labels(ops, z[:, : self.signal_dim])

    # ------------------------------------------------------------------ exact-solver moments
    def standardised_weights(self, W) -> np.ndarray:
        """W̃ = W Σ^{1/2}: the weights that act on z = Σ^{-1/2}x as W acts on x."""
        return np.asarray(W, dtype=np.float64) * self.scales

    def cross_moments(self, W, activation):
        """Cov(y, σ(u_i)) and Cov(y, x σ'(u_i)), any activation: the isotropic target's at W̃ = WΣ^{1/2}
        (the NT ones times Σ^{1/2}, since x = Σ^{1/2}z)."""
        rf, nt = self.isotropic.cross_moments(self.standardised_weights(W), activation)
        return rf, nt * self.scales

    def cross_moment_errors(self, W, activation):
        """Error estimates of :meth:`cross_moments` (the isotropic target's, transformed alike)."""
        errors = self.isotropic.cross_moment_errors(self.standardised_weights(W), activation)
        if errors is None:
            return None
        rf, nt = errors
        return rf, nt * self.scales

    def nn_risk(self, n_neurons: int) -> float:
        """The best rank-N quadratic form: M ↦ Σ^{1/2}MΣ^{1/2} keeps the rank, so it is the
        isotropic target's (Eckart-Young on the target's matrix), for every κ."""
        return self.isotropic.nn_risk(n_neurons)

    # ------------------------------------------------------------------ risks of c + xᵀMx
    def _standardised_form(self, M) -> np.ndarray:
        M = np.asarray(M, dtype=np.float64)
        if M.shape != (self.d, self.d):
            raise ValueError(f"M must have shape {(self.d, self.d)}, got {M.shape}")
        return self.scales[:, None] * M * self.scales[None, :]

    def predictor_risk(self, M, c=None, normalized: bool = True) -> float:
        """Exact risk of c + xᵀMx: the isotropic target's risk of c + zᵀ(Σ^{1/2}MΣ^{1/2})z.

        For a quadratic target B (in z_s): R = (b0 − c + Tr(B̃ − M̃))² + 2‖B̃ − M̃‖²_F,
        M̃ = Σ^{1/2}MΣ^{1/2}, B̃ = B padded; Tr M̃ = Tr(ΣM) is the trace term.
        """
        return self.isotropic.predictor_risk(self._standardised_form(M), c, normalized)

    def predictor_risk_grad(self, M, c=None, normalized: bool = True):
        """Risk of c + xᵀMx and its gradient in (M, c): ∇_M = Σ^{1/2} (∇_M̃ R) Σ^{1/2}."""
        risk, grad, grad_c = self.isotropic.predictor_risk_grad(self._standardised_form(M), c, normalized)
        return risk, self.scales[:, None] * grad * self.scales[None, :], grad_c

    def __repr__(self) -> str:
        return (f"SpikedCovariates(d={self.d}, signal_dim={self.signal_dim}, kappa={self.kappa:g}, "
                f"target={self.target_task!r})")
