"""RF, random features: f(x) = c + Σ_i a_i σ(⟨w_i, x⟩) with W fixed, a and c trained.

The second layer alone learns; the class is linear in (c, a), so its best predictor is a least
squares problem with the N×N Gram E[σ(u_i)σ(u_j)] (docs/theory.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernels import kernel_matrix, quadratic_kernel_form
from .base import Regime


def second_layer_form(W, a, inv_n, poly):
    """(M, c0) of (1/N) Σ_i a_i (p2 ⟨w_i, x⟩² + p0) without the factor p2 on M: Wᵀdiag(a/N)W, p0/N Σ a_i."""
    p0 = poly[0]
    return (W.T * (a * inv_n)) @ W, p0 * inv_n * float(a.sum())


@dataclass(frozen=True)
class RF(Regime):
    """The random-features class (W fixed)."""

    name = "rf"
    label = "RF"
    style = {"color": "#1f77b4", "marker": "o"}
    scalar = True

    def kernel(self, activation, X1, X2=None, tol=1e-12):
        """k_RF(x, x') = E_w[σ(⟨w, x⟩) σ(⟨w, x'⟩)] (:func:`lazytrain.kernels.kernel_matrix`)."""
        return kernel_matrix(activation, "rf", X1, X2, tol=tol)

    def kernel_quadratic_form(self, activation, X, alpha):
        return quadratic_kernel_form(activation, "rf", X, alpha)

    def quadratic_form(self, params, activation):
        """(M, c) of c + (1/N) Σ a_i σ(⟨w_i, x⟩) for σ = p2 u² + p0; ``params``: W (N, d), a (N,), c."""
        p2 = activation.poly[2]
        M, const = second_layer_form(params["W"], params["a"], 1.0 / params["W"].shape[0], activation.poly)
        return p2 * M, float(params["c"]) + const
