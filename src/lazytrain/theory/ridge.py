r"""Ridge random features on n samples: the Mei–Montanari asymptotics (arXiv 1908.05355).

Setting of the theorem: N, n, d → ∞ with N/d → ψ₁ and n/d → ψ₂; inputs
uniform on the sphere of radius √d (isotropic Gaussian inputs behave alike,
see below); features σ(⟨w_i, x⟩) with ‖w_i‖ = 1; target
y = F₁-linear part + nonlinear part of variance F⋆² + noise of variance τ²;
ridge regression (1/n)Σ(y - aᵀσ)² + (N λ_MM / d)‖a‖². With the Hermite
constants of σ at G ~ N(0, 1), μ₀ = E σ(G), μ₁ = E Gσ(G),
μ⋆² = E σ(G)² - μ₀² - μ₁², ζ = μ₁/μ⋆ and λ̄ = λ_MM/μ⋆²,

    R = F₁² B(ζ, ψ₁, ψ₂, λ̄) + (τ² + F⋆²) V(ζ, ψ₁, ψ₂, λ̄) + F⋆²,

with B = E₁/E₀, V = E₂/E₀ the rational functions of χ = ν₁ν₂ below, ν₁, ν₂
the solution of the fixed-point equations at ξ = i√(ψ₁ψ₂λ̄). Derivation and
mapping to lazytrain's conventions: docs/theory.md, "Ridge RF on n samples".

lazytrain's ridge λ penalises λN‖a‖², so λ_MM = dλ. Its tasks have no
linear part (F₁ = 0): for RF at N = O(d) the whole quadratic target is
"noise", R/R0 = 1 + V. That is exact for a traceless B (τ = 0); when
Tr B ≠ 0 the Gaussian radial direction ‖x‖² - d (a fraction τ of R0) is
partly learnable by RF and the formula overestimates the risk.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.optimize


def activation_constants(activation):
    """(μ₀, μ₁, μ⋆) of σ at G ~ N(0, 1): E σ(G), E Gσ(G), √(E σ(G)² - μ₀² - μ₁²)."""
    b = activation.hermite_coefficients(1, 1.0)
    second = float(activation.moments(np.array(1.0)).second)
    mu0, mu1 = float(b[0]), float(b[1])
    return mu0, mu1, math.sqrt(max(second - mu0 * mu0 - mu1 * mu1, 0.0))


def _fixed_point(psi1, psi2, zeta, y0):
    """m₁, m₂ > 0 with ν_k(iy₀) = i m_k:
    m₁ = ψ₁/(y₀ + m₂ + ζ²m₂/(1 + ζ²m₁m₂)), m₂ = ψ₂/(y₀ + m₁ + ζ²m₁/(1 + ζ²m₁m₂))."""
    z2 = zeta * zeta

    def rhs(m):
        m1, m2 = m
        den = 1.0 + z2 * m1 * m2
        return np.array([psi1 / (y0 + m2 + z2 * m2 / den), psi2 / (y0 + m1 + z2 * m1 / den)])

    m = np.array([math.sqrt(psi1), math.sqrt(psi2)])
    for _ in range(2000):
        new = 0.5 * m + 0.5 * rhs(m)
        if np.max(np.abs(new - m) / new) < 1e-15:
            m = new
            break
        m = new
    # polish in log coordinates (positive solution)
    sol = scipy.optimize.root(lambda t: np.log(rhs(np.exp(t))) - t, np.log(m), method="hybr",
                              options={"xtol": 1e-15})
    m = np.exp(sol.x)
    resid = float(np.max(np.abs(rhs(m) - m) / m))
    if not resid < 1e-9:
        raise RuntimeError(f"Mei-Montanari fixed point did not converge (ψ₁={psi1:g}, ψ₂={psi2:g}, "
                           f"ζ={zeta:g}, λ̄-scale y₀={y0:g}): relative residual {resid:.2e}")
    return m


def bias_variance(zeta, psi1, psi2, lam_bar):
    """B(ζ, ψ₁, ψ₂, λ̄) and V(ζ, ψ₁, ψ₂, λ̄) of Mei & Montanari (arXiv 1908.05355, Theorem 1)."""
    if not lam_bar > 0:
        raise ValueError(f"ridge: the Mei-Montanari formula is evaluated at λ̄ > 0, got {lam_bar!r} "
                         "(use a small ridge, e.g. 1e-8, for the ridgeless limit)")
    m1, m2 = _fixed_point(psi1, psi2, zeta, math.sqrt(psi1 * psi2 * lam_bar))
    chi = -m1 * m2
    z2, p12 = zeta * zeta, psi1 * psi2
    z4, z6 = z2 * z2, z2 * z2 * z2
    c2, c3, c4, c5 = chi**2, chi**3, chi**4, chi**5
    e0 = (-c5 * z6 + 3 * c4 * z4 + (p12 - psi2 - psi1 + 1) * c3 * z6 - 2 * c3 * z4 - 3 * c3 * z2
          + (psi1 + psi2 - 3 * p12 + 1) * c2 * z4 + 2 * c2 * z2 + c2 + 3 * p12 * chi * z2 - p12)
    e1 = psi2 * c3 * z4 - psi2 * c2 * z2 + p12 * chi * z2 - p12
    e2 = (c5 * z6 - 3 * c4 * z4 + (psi1 - 1) * c3 * z6 + 2 * c3 * z4 + 3 * c3 * z2
          + (-psi1 - 1) * c2 * z4 - 2 * c2 * z2 - c2)
    return e1 / e0, e2 / e0


def ridge_rf_theory(task, n_neurons, n_samples, ridge, activation) -> float:
    """Asymptotic R/R0 of ridge RF fitted on n samples (Mei–Montanari), lazytrain conventions.

    Parameters
    ----------
    task : QuadraticTarget or HermiteTarget
        QuadraticTarget: F₁ = 0 and F⋆² = R0, R/R0 = 1 + V; exact in the limit
        for a traceless B; with Tr B ≠ 0 (τ > 0) a warning says the formula
        ignores the learnable radial part. HermiteTarget: F₁² = the variance
        of its degree-1 part, F⋆² = that of the higher degrees.
    n_neurons, n_samples : int
        N and n; ψ₁ = N/d, ψ₂ = n/d.
    ridge : float
        λ > 0 of :func:`lazytrain.fit` (penalty λN‖a‖²); λ_MM = dλ.
    activation : Activation
    """
    from ..tasks import HermiteTarget, QuadraticTarget

    if isinstance(task, QuadraticTarget):
        f1, fstar = 0.0, task.r0
    elif isinstance(task, HermiteTarget):  # degree 1 is the linear part, the rest "noise"
        var = task.degree_variances()
        f1, fstar = float(var[0]), float(var[1:].sum())
    else:
        raise ValueError(
            f"task: the Mei-Montanari ridge-RF formula needs a regression target with isotropic "
            f"inputs (QuadraticTarget or HermiteTarget), got {type(task).__name__}")
    mu0, mu1, mustar = activation_constants(activation)
    if mustar <= 1e-6 * math.sqrt(mu0 * mu0 + mu1 * mu1 + mustar * mustar):
        raise ValueError(f"activation {activation.name!r} is linear (μ⋆ = 0): the formula needs a "
                         "non-linear σ")
    if isinstance(task, QuadraticTarget) and task.tau > 0.05:
        warnings.warn(
            f"theory_risk(..., n_samples=): the Mei-Montanari formula treats the whole quadratic "
            f"target as noise for RF (R/R0 = 1 + V); with Tr B ≠ 0 (τ = {task.tau:.3g}) the "
            "Gaussian radial part, a fraction τ of R0, is partly learnable, so the formula "
            "overestimates the risk (docs/theory.md)", UserWarning, stacklevel=3)
    d = task.d
    psi1, psi2 = n_neurons / d, n_samples / d
    lam_bar = d * ridge / mustar**2
    B, V = bias_variance(mu1 / mustar, psi1, psi2, lam_bar)
    return (f1 * B + fstar * V + fstar) / task.r0
