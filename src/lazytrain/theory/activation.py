"""RF and NT theory for any activation, from its Hermite coefficients (docs/theory.md,
"Theory for any activation").

Pure functions of scalars: the task supplies its own numbers (τ, ‖Δ‖²_F, d),
the activation its Hermite coefficients at q = 1 (weights w_i ~ N(0, I/d),
so ‖w_i‖² → 1). NT: see :func:`nt_residual_fraction`.

With σ(u) = Σ_k b_k h_k(u) and the ridge λ = Var σ − b₁² − b₂², the centred
RF Gram is K ≈ b₁² WWᵀ + μ I + (b₂²/d) 11ᵀ, μ = b₂² + λ, for N = O(d) (the
terms ρ_ij^k, k ≥ 3, have vanishing operator norm), and the cross moments
are proportional to the all-ones vector. Sherman-Morrison gives both tasks
in terms of

    x = b₂² s / d,   s = 1ᵀ(b₁² WWᵀ + μ I)⁻¹ 1 ≈ N m(μ/b₁²) / b₁²,

with m(t) = lim (1/N) tr(WWᵀ + tI)⁻¹ (Marchenko-Pastur, ratio ρ = N/d).

The Marchenko-Pastur pieces, the RF ratio x and the NT degree-2 ridge are those of the
per-degree theory (:mod:`lazytrain.theory.marchenko_pastur`, shared with
:mod:`lazytrain.theory.hermite`); this module supplies the finite-d spectrum and the exact
ridges from the moments of σ (docs/theory.md, "One implementation shared with §5").
"""

from __future__ import annotations

import math

import numpy as np

from ..regimes import capabilities
from .marchenko_pastur import (finite_spectrum, mp_eigenvalues, mp_stieltjes,  # noqa: F401 (public here too)
                               nt_degree2_parts, rf_isotropic_ratio)


def rf_signal_ratio(b1_sq: float, b2_sq: float, ridge: float, n_neurons: int, d: int) -> float:
    """x = b₂² s/d with s = 1ᵀ(b₁²WWᵀ + (b₂² + λ)I)⁻¹1 ≈ N m(μ/b₁²)/b₁², μ = b₂² + λ (Marchenko-Pastur).

    The same x as the per-degree RF theory: :func:`lazytrain.theory.marchenko_pastur.rf_isotropic_ratio`
    with its ridge Σ_{ℓ≥2} b_ℓ² = b₂² + λ.
    """
    return rf_isotropic_ratio(n_neurons / d, b1_sq, b2_sq, b2_sq + ridge)


def hermite_summary(activation, degree: int = 2):
    """(b₁², b₂², λ) of σ at q = 1: λ = Var σ − b₁² − b₂² (the effective ridge)."""
    b = activation.hermite_coefficients(degree, 1.0)
    mom = activation.moments(np.array([1.0]))
    var = float(mom.second[0] - mom.mean[0] ** 2)
    b1_sq, b2_sq = float(b[1] ** 2), float(b[2] ** 2)
    return b1_sq, b2_sq, max(var - b1_sq - b2_sq, 0.0)


def nt_residual_fraction(tau: float, n_neurons: int, d: int, c1_sq: float, ridge: float) -> float:
    """E‖f* − f̂‖²/Var f* for NT with σ' = c₀ + c₁h₁ + (higher), target xᵀBx, τ = Tr(B)²/(d‖B‖²).

    The degree-2 part of the NT class is c₁·sym(Σ_i b_i w_iᵀ) ∈ S_W (quadratic NT on the
    random subspace span W); the higher Hermite parts of σ' add the noise ``ridge``·Σ‖b_i‖²
    (ridge = E σ'² − c₀² − c₁²). In the basis of the left singular vectors of W (singular
    values s_j, from :func:`mp_eigenvalues`) the ridge-regularised projection separates:

        R = τ(1−ρ)₊ + (1−τ)(1−ρ)₊²                                    (⊥⊥ block, out of reach)
          + 2(d−r)(1−τ)/d² Σ_j λ/(λ + c₁²s_j²)                         (span × complement)
          + (τ/d + 2(1−τ)/d²) Σ_j λ/(λ + 2c₁²s_j²)                    (diagonal of the span block)
          + (1−τ)/d² Σ_{j≠k} λ/(λ + c₁²(s_j² + s_k²))                  (off-diagonal of the span block)

    λ = 0 gives the quadratic-activation NT theory (1−ρ)₊² + ρ(1−ρ)₊τ.
    """
    rho = n_neurons / d
    p = max(1.0 - rho, 0.0)
    out = tau * p + (1.0 - tau) * p * p
    if ridge <= 0:
        return out
    if c1_sq <= 0:
        return 1.0
    # the ridge regression of docs/theory.md §5 with μ = λ/(2c₁²) = λ/(4b₂²), on the finite-d spectrum
    # (typical eigenvalues s_j² weight 1/d, atom (d − r)/d at 0): the pairs (j, k) give the ⊥⊥, span ×
    # complement and span-block terms; the diagonal of the span block counts twice in the (1 − τ) part
    x, p = finite_spectrum(n_neurons, d)
    mu = ridge / (2.0 * c1_sq)
    left, cost = nt_degree2_parts(mu, tau, x, p)
    nz = x > 0
    out = left + cost + (1.0 - tau) / d * float(p[nz] @ (mu / (x[nz] + mu)))
    return min(out, 1.0)


def rf_residual_fraction(tau: float, x: float) -> float:
    """1 − τx/(1+x): the RF residual fraction of a quadratic target (x from :func:`rf_signal_ratio`)."""
    return 1.0 - tau * x / (1.0 + x) if math.isfinite(x) else 1.0 - tau


def nt_hermite_summary(activation):
    """(c₀², c₁², λ_NT) of σ' = Σ c_k h_k at q = 1: c_k = √(k+1) b_{k+1}, λ_NT = E σ'² − c₀² − c₁²."""
    b = activation.hermite_coefficients(2, 1.0)
    mom = activation.moments(np.array([1.0]))
    c0_sq, c1_sq = float(b[1] ** 2), float(2.0 * b[2] ** 2)
    return c0_sq, c1_sq, max(float(mom.d_second[0]) - c0_sq - c1_sq, 0.0)


def mixture_risk(frob2: float, residual_fraction: float) -> float:
    """R = 1/(1 + κ), κ = ½‖Δ‖²_F (1 − residual fraction of the regression on xᵀΔx) (small Δ).

    To first order in Δ, ½(E₊φ − E₋φ) = ½Cov(xᵀΔx, φ), so κ = vᵀK⁻¹v is a quarter of the
    variance of xᵀΔx (= 2‖Δ‖²_F) that the class explains.
    """
    return 1.0 / (1.0 + 0.5 * frob2 * (1.0 - residual_fraction))


#: Task kinds (``task.kind``) whose σ ≠ u² formulas live in this module (RF and NT).
GENERAL_KINDS = ("quadratic", "mixture")
#: Task kinds whose theory is for σ = u² only (spiked covariates: theory.spiked).
QUADRATIC_ONLY_KINDS = ("spiked",)
#: Task kinds with any theory at all (the Hermite target's per-degree theory is in theory.hermite).
THEORY_KINDS = GENERAL_KINDS + ("hermite",) + QUADRATIC_ONLY_KINDS


def unavailable_reason(kind: str, regime: str, activation) -> str | None:
    """Why ``theory_risk`` has no formula for (task kind, regime, σ), or None when it has one.

    Quadratic activation: the paper's formulas. Any other σ: RF and NT for the
    quadratic target and the mixture (this module) and the Hermite target
    (:mod:`lazytrain.theory.hermite`); NN only for σ = u² (Theorem 3:
    Eckart-Young on the target's spectrum).
    """
    if kind not in THEORY_KINDS:
        return f"no theory for task kind {kind!r}: theory_risk has formulas for {list(THEORY_KINDS)}"
    caps = capabilities(None, activation, regime)
    if kind in QUADRATIC_ONLY_KINDS and not caps.closed_form:
        return f"no theory for task kind {kind!r}: {caps.closed_form.reason}"
    return None if caps.theory else caps.theory.reason


def theory(task, regime: str, n_neurons: int, activation, **options) -> float:
    """R/R0 for a σ other than u², from its Hermite coefficients at q = 1 (weights w ~ N(0, I/d)).

    RF: the residual fraction 1 − τx/(1+x) (:func:`rf_signal_ratio`); NT: the
    ridge-regularised quadratic NT (:func:`nt_residual_fraction`). The quadratic
    target's R/R0 is that fraction; the mixture's is 1/(1 + ½‖Δ‖²_F(1 − fraction))
    with τ → τ_Δ (:func:`mixture_risk`). Measured accuracy against exact risks at
    d = 450 in docs/theory.md (RF within 0.01, one mixture draw 0.013; NT within 0.04).
    """
    reason = unavailable_reason(task.kind, regime, activation)
    if reason or task.kind not in GENERAL_KINDS:
        raise ValueError(f"activation: {reason or 'use the task formulas of ' + repr(task.kind)}")
    if options:
        raise ValueError(f"theory_risk options {sorted(options)} apply to the quadratic activation only; "
                         f"the formulas for activation {activation.name!r} assume w ~ N(0, I/d)")
    d = task.d
    if regime == "rf":
        frac = rf_residual_fraction(task.tau, rf_signal_ratio(*hermite_summary(activation), n_neurons, d))
    else:
        _, c1_sq, ridge = nt_hermite_summary(activation)
        frac = nt_residual_fraction(task.tau, n_neurons, d, c1_sq, ridge)
    return frac if task.kind == "quadratic" else mixture_risk(task.frob2, frac)
