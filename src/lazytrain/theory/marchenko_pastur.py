r"""The shared mathematics of the RF and NT theory for any activation (docs/theory.md, §"Theory for any
activation" and §5 "Theory per degree" use only these functions).

Weights w_i ~ N(0, I_d/d), N/d → ρ. Both theories reduce the degree-2 part of a
target to a ridge regression on the Marchenko–Pastur spectrum of S = Σ_i w_iw_iᵀ:

* RF fits the isotropic direction ‖x‖² − d, a fraction F = x/(1 + x) of it with
  x = ρ b₂² g and g = ∫ dν(s)/(b₁² s + λ), ν the spectrum of WWᵀ (N × N) and
  λ = Σ_{ℓ≥2} b_ℓ² (:func:`rf_isotropic_ratio`, via :func:`mp_stieltjes`);
* NT fits degree 2 with the ridge μ = λ/(4b₂²), λ = Σ_{ℓ≥3} ℓ b_ℓ²: the
  anisotropic part through the pair eigenvalues h = (s + s')/2 of M ↦ (MS + SM)/2,
  the isotropic part through s itself (:func:`ridge_parts`, :func:`pair_ridge_parts`);
  what is left in degree 2 plus what the penalty costs is μ/(h + μ).

A spectrum is given as nodes and weights (x, p) with Σ p f(x) ≈ E f(s): the d → ∞
law (:func:`mp_spectrum`, Gauss–Legendre) or the typical eigenvalues at finite d
(:func:`mp_eigenvalues`, weight 1/d each, plus an atom at 0: :func:`finite_spectrum`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Gauss-Legendre nodes for the Marchenko-Pastur integrals.
MP_NODES = 400


@lru_cache(maxsize=64)
def mp_spectrum(rho: float):
    """Nodes and weights of the limiting spectrum of S = Σ_{i≤N} w_i w_iᵀ (d × d), w_i ~ N(0, I/d).

    S = ρ·X with X ~ Marchenko-Pastur of ratio y = 1/ρ: an atom 1 − ρ at 0 when
    ρ < 1, and a density on [(1 − √ρ)², (1 + √ρ)²]. Returns (x, p) with
    Σ p f(x) ≈ E f(s); the continuous part uses x = m + h cos θ and
    Gauss-Legendre in θ (the square-root edges become smooth), error below 1e-10
    for the smooth integrands used here.
    """
    rho = float(rho)
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    lo, hi = (1 - np.sqrt(rho)) ** 2, (1 + np.sqrt(rho)) ** 2
    m, h = (lo + hi) / 2, (hi - lo) / 2
    t, w = np.polynomial.legendre.leggauss(MP_NODES)
    theta = (t + 1) * np.pi / 2
    x = m + h * np.cos(theta)
    # density of the nonzero eigenvalues of S (per d): √((hi−x)(x−lo)) / (2π x)
    dens = (h * np.sin(theta)) ** 2 / (2 * np.pi * x)
    p = dens * w * np.pi / 2
    atom = max(1.0 - rho, 0.0)
    p = p * (min(rho, 1.0) / p.sum())  # renormalise the quadrature to the exact mass
    if atom > 0:
        x, p = np.append(x, 0.0), np.append(p, atom)
    return x, p


def mp_eigenvalues(n_rows: int, d: int) -> np.ndarray:
    """Typical nonzero eigenvalues of WWᵀ, W (n_rows×d) with i.i.d. N(0, 1/d) entries.

    The r = min(n_rows, d) quantiles at (j − ½)/r of the Marchenko-Pastur law:
    ratio γ = r/max(n_rows, d), scaled by max(1, n_rows/d) (for n_rows > d the
    nonzero spectrum is that of WᵀW = (n_rows/d)·(ZᵀZ/n_rows)). Density
    √((b − x)(x − a))/(2πγx) on [a, b] = [(1 − √γ)², (1 + √γ)²].
    """
    r = min(n_rows, d)
    gamma = r / max(n_rows, d)
    scale = max(1.0, n_rows / d)
    a, b = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2
    theta = np.linspace(0.0, math.pi, 20001)
    x = a + (b - a) * (1 - np.cos(theta)) / 2  # dx = (b−a) sin θ/2 dθ removes the edge singularities
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.sqrt(np.maximum((b - x) * (x - a), 0.0)) / (2 * math.pi * gamma * x)
    integrand = dens * (b - a) * np.sin(theta) / 2
    if not np.isfinite(integrand[0]):  # γ = 1: x = 0 at θ = 0, the substituted integrand is finite there
        integrand[0] = integrand[1]
    cdf = np.concatenate([[0.0], np.cumsum((integrand[1:] + integrand[:-1]) / 2 * np.diff(theta))])
    cdf /= cdf[-1]
    levels = (np.arange(r) + 0.5) / r
    return scale * np.interp(levels, cdf, x)


def finite_spectrum(n_rows: int, d: int):
    """(x, p) of S = WᵀW (d × d) at finite d: the typical eigenvalues (:func:`mp_eigenvalues`), weight
    1/d each, and an atom (d − r)/d at 0 when r = min(n_rows, d) < d; the finite-d counterpart of
    :func:`mp_spectrum`."""
    x = mp_eigenvalues(n_rows, d)
    p = np.full(x.size, 1.0 / d)
    if x.size < d:
        x, p = np.append(x, 0.0), np.append(p, (d - x.size) / d)
    return x, p


def mp_stieltjes(rho: float, t: float) -> float:
    """m = lim (1/N) tr (WWᵀ + t I)⁻¹ for W (N×d) with i.i.d. N(0, 1/d) entries, N/d → ρ, t > 0.

    The Marchenko-Pastur law of WWᵀ (mean eigenvalue 1, ratio ρ) gives
    m = (√((1 − ρ + t)² + 4ρt) − (1 − ρ + t)) / (2ρt).
    """
    a = 1.0 - rho + t
    disc = math.sqrt(a * a + 4.0 * rho * t)
    # stable form of (disc - a)/(2 ρ t): multiply by (disc + a)
    return 2.0 / (disc + a)


def rf_isotropic_ratio(rho: float, b1_sq: float, b2_sq: float, lam: float) -> float:
    """x = ρ b₂² g, g = ∫ dν(s)/(b₁² s + λ) = m(λ/b₁²)/b₁² (ν the spectrum of WWᵀ, ρ = N/d).

    λ = Σ_{ℓ≥2} b_ℓ² (the ridge the degree ≥ 2 parts of the features put on the
    coefficients, degree 2 included). RF fits the fraction x/(1 + x) of the isotropic
    degree-2 direction ‖x‖² − d. λ = 0: x = ∞ when b₂ ≠ 0, else 0.
    """
    if lam <= 0:
        return float("inf") if b2_sq > 0 else 0.0
    g = 1.0 / lam if b1_sq <= 1e-300 else mp_stieltjes(rho, lam / b1_sq) / b1_sq
    return rho * b2_sq * g


def ridge_parts(mu: float, x: np.ndarray, p: np.ndarray):
    """E[(μ/(x+μ))²] (what is left) and E[μx/(x+μ)²] (what the penalty costs), μ ∈ [0, ∞]."""
    if np.isinf(mu):
        return 1.0, 0.0
    if mu == 0:
        return float(p[x <= 1e-14].sum()), 0.0
    return float(p @ (mu / (x + mu)) ** 2), float(p @ (mu * x / (x + mu) ** 2))


def pair_ridge_parts(mu: float, x: np.ndarray, p: np.ndarray):
    """:func:`ridge_parts` over the pair eigenvalues h = (s + s')/2, s, s' independent draws of (x, p).

    They are the eigenvalues of M ↦ (MS + SM)/2 on d × d matrices: the Gram of NT's degree-2 map.
    """
    h = (x[:, None] + x[None, :]) / 2
    pp = p[:, None] * p[None, :]
    return ridge_parts(mu, h.ravel(), pp.ravel())


def nt_degree2_parts(mu: float, tau: float, x: np.ndarray, p: np.ndarray):
    """(left, cost) of NT's degree-2 fit with ridge μ, a fraction τ of the tensor isotropic.

    left = (1 − τ) E_pairs[(μ/(h+μ))²] + τ E[(μ/(s+μ))²] is what stays in degree 2,
    cost the same with μh/(h+μ)² (what the penalty puts in the higher degrees); left + cost
    is the residual fraction of the ridge regression, (1 − τ)E μ/(h+μ) + τ E μ/(s+μ).
    """
    left2, cost2 = pair_ridge_parts(mu, x, p)
    left1, cost1 = ridge_parts(mu, x, p)
    return (1 - tau) * left2 + tau * left1, (1 - tau) * cost2 + tau * cost1
