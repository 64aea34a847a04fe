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


def nt_theory(d: int, signal_dim: int, kappa: float, n_neurons: int) -> float:
    """NT risk of a quadratic target on the signal block, σ = u²: (1 − q)², q the fixed point
    q = 1 / (1 + d^{-κ} tr (A + s q d^{-κ})⁻¹), A an (d−N)×(d−N) Wishart matrix with d − s degrees of
    freedom (its Marchenko-Pastur resolvent, :func:`~.marchenko_pastur.mp_stieltjes`).

    1 − q is the mean eigenvalue of P⊥ compressed to the signal block (docs/theory.md, "Spiked
    covariates"). Valid for d_s < N (a raise below); 0 for N ≥ d. κ = 0 gives (1 − N/d)².
    """
    if n_neurons >= d:
        return 0.0
    if n_neurons <= signal_dim:
        raise ValueError(f"n_neurons: the spiked NT theory needs N > signal_dim = {signal_dim} (the span of W "
                         f"must be able to cover the signal block), got N = {n_neurons}; use exact_risk")
    m, s, a = d - n_neurons, signal_dim, float(d) ** kappa
    ratio = m / (d - s)

    def update(q):
        return 1.0 / (1.0 + ratio * mp_stieltjes(ratio, s * q / (a * (d - s))) / a)

    q = update(1.0)
    for _ in range(10_000):
        new = update(q)
        if abs(new - q) <= 1e-14:
            return (1.0 - new) ** 2
        q = new
    raise ArithmeticError(f"the spiked NT fixed point did not converge (d = {d}, N = {n_neurons}, "
                          f"kappa = {kappa}): last step {abs(new - q):.2e}")


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
        part = nt_theory(task.d, task.signal_dim, task.kappa, n_neurons)
    return float(1.0 - share * (1.0 - part))
