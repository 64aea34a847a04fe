"""Random-features theory for any activation, from its Hermite coefficients (docs/theory.md §3).

Pure functions of scalars: the task supplies its own numbers (τ, Tr Δ, d),
the activation its Hermite coefficients at q = 1 (weights w_i ~ N(0, I/d),
so ‖w_i‖² → 1).

With σ(u) = Σ_k b_k h_k(u) and the ridge λ = Var σ − b₁² − b₂², the centred
RF Gram is K ≈ b₁² WWᵀ + μ I + (b₂²/d) 11ᵀ, μ = b₂² + λ, for N = O(d) (the
terms ρ_ij^k, k ≥ 3, have vanishing operator norm), and the cross moments
are proportional to the all-ones vector. Sherman-Morrison gives both tasks
in terms of

    x = b₂² s / d,   s = 1ᵀ(b₁² WWᵀ + μ I)⁻¹ 1 ≈ N m(−μ/b₁²) / b₁²,

with m the Marchenko-Pastur Stieltjes transform of WWᵀ (ratio ρ = N/d).
"""

from __future__ import annotations

import math

import numpy as np


def mp_stieltjes(rho: float, t: float) -> float:
    """m = lim (1/N) tr (WWᵀ + t I)⁻¹ for W (N×d) with i.i.d. N(0, 1/d) entries, N/d → ρ, t > 0.

    The Marchenko-Pastur law of WWᵀ (mean eigenvalue 1, ratio ρ) gives
    m = (√((1 − ρ + t)² + 4ρt) − (1 − ρ + t)) / (2ρt).
    """
    a = 1.0 - rho + t
    disc = math.sqrt(a * a + 4.0 * rho * t)
    # stable form of (disc - a)/(2 ρ t): multiply by (disc + a)
    return 2.0 / (disc + a)


def rf_signal_ratio(b1_sq: float, b2_sq: float, ridge: float, n_neurons: int, d: int) -> float:
    """x = b₂² s/d with s = 1ᵀ(b₁²WWᵀ + (b₂² + λ)I)⁻¹1 ≈ N m(−μ/b₁²)/b₁² (Marchenko-Pastur)."""
    mu = b2_sq + ridge
    if mu <= 0:
        return float("inf") if b2_sq > 0 else 0.0
    if b1_sq <= 1e-300:
        s = n_neurons / mu
    else:
        s = n_neurons * mp_stieltjes(n_neurons / d, mu / b1_sq) / b1_sq
    return b2_sq * s / d


def rf_risk_quadratic_target(tau: float, x: float) -> float:
    """R_RF/R0 ≈ 1 − τ x/(1 + x) for f*(x) = xᵀBx + b0, τ = Tr(B)²/(d‖B‖²_F)."""
    return 1.0 - tau * x / (1.0 + x) if math.isfinite(x) else 1.0 - tau


def rf_risk_mixture(trace_delta: float, d: int, x: float) -> float:
    """R_RF ≈ 1/(1 + κ), κ = (Tr Δ)²/(2d) · x/(1 + x), for x | y ~ N(0, I + yΔ), small Δ."""
    frac = x / (1.0 + x) if math.isfinite(x) else 1.0
    return 1.0 / (1.0 + trace_delta**2 / (2.0 * d) * frac)


def hermite_summary(activation, degree: int = 2):
    """(b₁², b₂², λ) of σ at q = 1: λ = Var σ − b₁² − b₂² (the effective ridge)."""
    b = activation.hermite_coefficients(degree, 1.0)
    mom = activation.moments(np.array([1.0]))
    var = float(mom.second[0] - mom.mean[0] ** 2)
    b1_sq, b2_sq = float(b[1] ** 2), float(b[2] ** 2)
    return b1_sq, b2_sq, max(var - b1_sq - b2_sq, 0.0)
