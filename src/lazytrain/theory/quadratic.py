"""Theory for the quadratic target f*(x) = b0 + xᵀBx (docs/theory.md §1).

References: Ghorbani, Mei, Misiakiewicz, Montanari (NeurIPS 2019), Theorems
1-3 as stated on the poster; the NT formula in its corrected form and the
RF formula with an offset are derived in docs/theory.md.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..regimes import capabilities
from ..tasks import QuadraticTarget
from ..weights import weight_covariance


def require_quadratic(activation, regime, task_name="the quadratic target"):
    """Raise unless σ(u) = a u² + c0: the formulas of this module and of theory.mixture need it."""
    closed = capabilities(None, activation, regime).closed_form
    if not closed:
        raise ValueError(f"theory_risk for {task_name}, regime {regime!r}: {closed.reason}")


def rf_theory(task: QuadraticTarget, n_neurons: int, cov=None) -> float:
    """Theorem 1 (RF), weights w_i ~ N(0, Γ), with an offset.

    R/R0 = 1 - N⟨B,Γ⟩² / (‖B‖²_F ((Tr Γ)² + N‖Γ‖²_F)).

    With Tr Γ = 1 this is the poster's 1 - ρd⟨B,Γ⟩²/(‖B‖²(1 + ρd‖Γ‖²)); for
    Γ = I/d it is 1 - τρ/(1+ρ). The form with (Tr Γ)² is invariant under
    Γ → s²Γ, as the RF class is.
    """
    if cov is None:  # Γ = I/d
        inner, trg, fro = task.trace / task.d, 1.0, 1.0 / task.d
    else:
        gamma = weight_covariance(task.d, cov)
        inner = float(np.sum(task.B * gamma))
        trg = float(np.trace(gamma))
        fro = float(np.sum(gamma * gamma))
    explained = n_neurons * inner**2 / (task.frob2 * (trg**2 + n_neurons * fro))
    return 1.0 - explained


def nt_expected_finite_d(d: int, n_neurons: int, frob2: float, trace: float) -> float:
    """Exact E_W ‖P⊥BP⊥‖²_F / ‖B‖²_F for a Haar-random span of N directions.

    With k = max(d - N, 0), c2 = k(d-k)/(d(d-1)(d+2)), c1 = k/d - (d+1)c2:
    E‖P⊥BP⊥‖² = (c1 + c2)‖B‖² + c2 (Tr B)².
    """
    k = max(d - n_neurons, 0)
    if d == 1:
        return float(k)
    c2 = k * (d - k) / (d * (d - 1) * (d + 2))
    c1 = k / d - (d + 1) * c2
    return ((c1 + c2) * frob2 + c2 * trace**2) / frob2


def nt_theory(rho: float, tau: float) -> float:
    """Theorem 2 (NT), corrected: (1-ρ)₊² + ρ(1-ρ)₊ τ."""
    p = max(1.0 - rho, 0.0)
    return p * p + rho * p * tau


def nn_theory(task: QuadraticTarget, n_neurons: int) -> float:
    """Theorem 3 (NN): Σ_{i>N} λ_i(B)² / Σ_i λ_i(B)², eigenvalues by decreasing |λ| (``task.nn_risk``)."""
    return task.nn_risk(n_neurons)


def _is_isotropic(d, cov) -> bool:
    if cov is None:
        return True
    gamma = weight_covariance(d, cov)
    return bool(np.allclose(gamma, gamma[0, 0] * np.eye(d), rtol=1e-10, atol=1e-14 * abs(gamma[0, 0])))


def theory(task: QuadraticTarget, regime, n_neurons, activation, *, cov=None, finite_d=False) -> float:
    """The quadratic target's formulas (quadratic activation): Theorems 1-3, see the module docstring."""
    require_quadratic(activation, regime)
    if regime == "rf":
        return rf_theory(task, n_neurons, cov)
    if regime == "nt":
        if not _is_isotropic(task.d, cov):
            raise ValueError(
                "cov: the NT theory (Theorem 2) assumes isotropic weights, so that span(W) is a "
                "uniformly random subspace; got a non-isotropic covariance. Use exact_risk instead"
            )
        if finite_d:
            return nt_expected_finite_d(task.d, n_neurons, task.frob2, task.trace)
        return nt_theory(n_neurons / task.d, task.tau)
    if not task.is_psd:
        warnings.warn(
            "B is not positive semi-definite: the NN value returned is the global optimum over "
            "rank-N quadratic forms with second-layer weights of either sign (Eckart-Young on |λ|). "
            "Theorem 3's SGD guarantee assumes B ⪰ 0, and with a positive second layer only the "
            "positive part of B can be fitted, so SGD may stay above this value.",
            UserWarning,
            stacklevel=3,
        )
    return nn_theory(task, n_neurons)
