"""Theory for the Gaussian mixture, small-Δ regime (docs/theory.md §2).

The poster gives three formulas of the form R = 1/(1 + κ). In the regime
‖Δ‖_op → 0 with ‖Δ‖_F = Θ(1) and N/d → ρ we derive (docs/theory.md):

* RF: κ = ρ/(1+ρ) · r̃(Δ)²/(2d) with r̃(Δ) = Tr Δ (the poster prints ρ/(1+2ρ));
* NT: κ = κ(ρ, Δ) ‖Δ‖²_F/2 with κ(ρ, Δ) = 1 - (1-ρ)₊² - ρ(1-ρ)₊ τ_Δ,
  τ_Δ = Tr(Δ)²/(d‖Δ‖²_F);
* NN: κ = ½ Σ_{i ≤ N∧d} λ_i(Δ)², eigenvalues by decreasing |λ|.

All risks are normalised by R0 = 1, the risk of the trivial predictor.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from ..tasks import GaussianMixture
from .quadratic import nt_expected_finite_d, nt_theory, require_quadratic

RF_FACTORS = ("derived", "poster")


def rf_kappa_theory(task: GaussianMixture, n_neurons: int, rf_factor: str = "derived") -> float:
    """κ_RF = f(ρ) · (Tr Δ)²/(2d), f(ρ) = ρ/(1+ρ) (derived) or ρ/(1+2ρ) (poster)."""
    rho = n_neurons / task.d
    factor = rho / (1.0 + rho) if rf_factor == "derived" else rho / (1.0 + 2.0 * rho)
    return factor * task.trace**2 / (2.0 * task.d)


def nt_kappa_factor(task: GaussianMixture, n_neurons: int, finite_d: bool = False) -> float:
    """κ(ρ, Δ) = 1 - E_W‖P⊥ΔP⊥‖²_F/‖Δ‖²_F, so that κ_NT = κ(ρ, Δ)‖Δ‖²_F/2.

    Asymptotically 1 - (1-ρ)₊² - ρ(1-ρ)₊ τ_Δ; with ``finite_d`` the exact
    expectation over a Haar-random span(W) at this d (the quadratic target's
    formula with B → Δ).
    """
    if task.frob2 == 0:
        return 0.0
    if finite_d:
        return 1.0 - nt_expected_finite_d(task.d, n_neurons, task.frob2, task.trace)
    return 1.0 - nt_theory(n_neurons / task.d, task.tau)


def nn_kappa_theory(task: GaussianMixture, n_neurons: int) -> float:
    """κ_NN = ½ Σ_{i ≤ N∧d} λ_i(Δ)², the N eigenvalues of largest |λ|."""
    return 0.5 * float(np.sum(task.eigenvalues[:n_neurons] ** 2))


def theory(task: GaussianMixture, regime, n_neurons, activation, *, rf_factor="derived", finite_d=False) -> float:
    """The mixture's small-Δ formulas (quadratic activation), R = 1/(1 + κ); see the module docstring."""
    require_quadratic(activation, regime, "the Gaussian mixture")
    rf_factor = check_choice("rf_factor", rf_factor, RF_FACTORS)
    if regime == "rf":
        kappa = rf_kappa_theory(task, n_neurons, rf_factor)
    elif regime == "nt":
        kappa = nt_kappa_factor(task, n_neurons, finite_d) * task.frob2 / 2.0
    else:
        kappa = nn_kappa_theory(task, n_neurons)
    return 1.0 / (1.0 + kappa)
