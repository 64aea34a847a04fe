"""NT, neural tangents: the first-order expansion of the network around W.

f(x) = c + Σ_i ⟨b_i, x⟩ σ'(⟨w_i, x⟩) with W fixed, b trained; the variant ``NT(second_layer=True)``
adds the second layer Σ_i a_i σ(⟨w_i, x⟩) (the full linearisation in (W, a), the limit of the
lazily scaled network, :class:`lazytrain.regimes.nn.LazyNN`).

SGD trains it in the mean-field parametrisation b_i = a0_i g_i / N (a0_i = ±1 fixed, g_i from 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernels import kernel_matrix, quadratic_kernel_form
from .base import Regime
from .rf import second_layer_form


@dataclass(frozen=True)
class NT(Regime):
    """The neural-tangent class; ``second_layer`` adds the σ(⟨w_i, x⟩) block."""

    second_layer: bool = False
    name = "nt"
    label = "NT"
    style = {"color": "#ff7f0e", "marker": "s"}
    tangent = True

    @classmethod
    def variant(cls, second_layer=False, **_) -> "NT":
        return cls(second_layer=bool(second_layer))

    def settings(self) -> dict:
        return {"second_layer": self.second_layer}

    @property
    def scalar(self) -> bool:  # the second-layer block is the variant
        return self.second_layer

    def kernel(self, activation, X1, X2=None, tol=1e-12):
        """k_NT(x, x') = E_w[σ'σ'] ⟨x, x'⟩ (+ k_RF with the second layer) (:mod:`lazytrain.kernels`)."""
        return kernel_matrix(activation, "nt", X1, X2, second_layer=self.second_layer, tol=tol)

    def kernel_quadratic_form(self, activation, X, alpha):
        return quadratic_kernel_form(activation, "nt", X, alpha, self.second_layer)

    def quadratic_form(self, params, activation):
        """(M, c) for σ = p2 u² + p0 of c + (1/N) Σ a0_i σ'(⟨w_i, x⟩)⟨g_i, x⟩ (+ (1/N) Σ a_i σ(⟨w_i, x⟩)).

        ``params``: W (N, d), a0 (N,), G (N, d), c, and a (N,) with the second layer.
        """
        p2 = activation.poly[2]
        W = params["W"]
        inv = 1.0 / W.shape[0]
        const = float(params["c"])
        half = (W.T * (params["a0"] * inv)) @ params["G"]   # σ'(u) = 2 p2 u: 2·Wᵀdiag(a0/N)G, symmetrised
        M = half + half.T
        if self.second_layer:
            Ma, ca = second_layer_form(W, params["a"], inv, activation.poly)
            M = Ma + M
            const += ca
        return p2 * M, const
