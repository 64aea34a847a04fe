r"""Theory for spiked covariates, quadratic activation (docs/theory.md, "Spiked covariates").

With z = Σ^{-1/2}x, RF and NT at weights W are the isotropic target's at
W̃ = WΣ^{1/2}, whose rows are N(0, Σ/d) when W's are N(0, I/d):

* RF: Theorem 1 with the weight covariance Γ = Σ/d (:func:`lazytrain.theory.quadratic.rf_theory`),
  R/R0 = 1 − N⟨B̃,Σ⟩² / (‖B̃‖²_F((Tr Σ)² + N‖Σ‖²_F)), ⟨B̃,Σ⟩ = d^κ Tr B;
  it holds while N is small against d_eff², the square of the sequel's effective dimension;
* NT: the complement of span(W̃) restricted to the signal block is ≈ c·I with
  c = t/(1 + t), t = (d − N)/(d^κ (N − d_s)), so R/R0 = c² for d_s < N < d, and 0 for N ≥ d;
* NN: the isotropic target's rank-N optimum (κ plays no role).

A Hermite target enters through its degree-2 part only (σ = u² sees no other degree).
"""

from __future__ import annotations

import numpy as np

from ..tasks import QuadraticTarget, SpikedCovariates
from . import quadratic
from .marchenko_pastur import mp_stieltjes


def _resolvent_fixed_point(d: int, signal_dim: int, kappa: float, n_neurons: int, lam: float) -> float:
    """q(λ) = (1/d_s) tr (λI + T)⁻¹ by its deterministic equivalent q = 1/(λ + d^{-κ} tr(A + d_s q d^{-κ})⁻¹)."""
    m, s, a = d - n_neurons, signal_dim, float(d) ** kappa
    ratio = m / (d - s)

    def update(q):
        return 1.0 / (lam + ratio * mp_stieltjes(ratio, s * q / (a * (d - s))) / a)

    q = update(1.0 / lam)
    for _ in range(10_000):
        new = update(q)
        if abs(new - q) <= 1e-15:
            return new
        q = new
    raise ArithmeticError(f"the spiked NT fixed point did not converge (d = {d}, N = {n_neurons}, "
                          f"kappa = {kappa}): last step {abs(new - q):.2e}")


def nt_theory(d: int, signal_dim: int, kappa: float, n_neurons: int, tau_s: float) -> float:
    """NT risk of a quadratic target B on the signal block, σ = u² (docs/theory.md §8.3).

    C = P⊥ compressed to the signal block = I − (I + T)⁻¹ has eigenvalues with mean m₁ = 1 − q(1) and
    variance v = −q'(1) − q(1)², q(λ) the resolvent's fixed point; C's law is invariant under
    rotations of the block, so E Tr(BCBC)/‖B‖² = m₁² + β(1 − 2/d_s + d_s τ_s),
    β = d_s v/((d_s + 2)(d_s − 1)) (d_s = 1: m₁² + v), τ_s = (Tr B)²/(d_s‖B‖²). Valid for d_s < N
    (a raise below); 0 for N ≥ d. κ = 0 gives Theorem 2's finite-d expectation to O(d_s/d).
    """
    if n_neurons >= d:
        return 0.0
    if n_neurons <= signal_dim:
        raise ValueError(f"n_neurons: the spiked NT theory needs N > signal_dim = {signal_dim} (the span of W "
                         f"must be able to cover the signal block), got N = {n_neurons}; use exact_risk")
    s = signal_dim
    q = _resolvent_fixed_point(d, s, kappa, n_neurons, 1.0)
    h = 1e-6  # q is converged to 1e-15: the central difference errs by O(h²) + 1e-15/h ≈ 1e-9
    slope = (_resolvent_fixed_point(d, s, kappa, n_neurons, 1.0 + h)
             - _resolvent_fixed_point(d, s, kappa, n_neurons, 1.0 - h)) / (2.0 * h)
    var = max(-slope - q * q, 0.0)
    mean = 1.0 - q
    if s == 1:
        return mean * mean + var
    beta = s * var / ((s + 2) * (s - 1))
    return mean * mean + beta * (1.0 - 2.0 / s + s * tau_s)


def _quadratic_part(task: SpikedCovariates):
    """(B̃, share): the padded matrix of the degree-2 part and its share of R0."""
    iso = task.isotropic
    if isinstance(iso, QuadraticTarget):
        return iso, 1.0
    B2 = iso.quadratic_part
    var2 = 2.0 * float(np.sum(B2 * B2))
    return (QuadraticTarget(B2) if var2 > 0 else None), var2 / iso.r0


def theory(task: SpikedCovariates, regime, n_neurons, activation) -> float:
    """The spiked task's formulas for σ = u² (module docstring)."""
    quadratic.require_quadratic(activation, regime, "spiked covariates")
    if regime == "nn":
        return task.nn_risk(n_neurons)
    quad, share = _quadratic_part(task)
    if quad is None:
        return 1.0
    if regime == "rf":
        part = quadratic.rf_theory(quad, n_neurons, cov=task.variances / task.d)
    else:
        tau_s = quad.trace**2 / (task.signal_dim * quad.frob2)  # Tr and ‖·‖ of B̃ are those of B
        part = nt_theory(task.d, task.signal_dim, task.kappa, n_neurons, tau_s)
    return float(1.0 - share * (1.0 - part))
