"""NN, the two-layer network with every layer trained, in the mean-field parametrisation.

f(x) = c + (1/N) Σ_i a_i σ(⟨w_i, x⟩), W, a and c trained. ``NN(shared_a=True)`` (the authors'
default) has one second-layer scalar a (starting at 0); ``shared_a=False`` one a_i per neuron
(starting at a0_i). At fixed W it is the RF class; its exact optimum over W is a task's
``nn_risk`` (quadratic σ).

:class:`LazyNN` is the lazily scaled variant of Chizat, Oyallon & Bach (arXiv 1812.07956):
f(x) = c + α·(h(x; θ) − h(x; θ0)), h = (1/N) Σ a_i σ(⟨w_i, x⟩), θ = (W, a) per neuron; as α → ∞ it
becomes its linearisation at θ0, the class ``NT(second_layer=True)`` (its ``limit``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Regime
from .nt import NT
from .rf import RF, second_layer_form


@dataclass(frozen=True)
class NN(Regime):
    """The mean-field two-layer network (W trained)."""

    shared_a: bool = True
    name = "nn"
    label = "NN"
    style = {"color": "#2ca02c", "marker": "^"}
    scalar = True       # at fixed W: the RF class
    linear = False      # W is trained: not a linear class
    flow = True         # the population gradient flow (train(..., method='flow'))

    @classmethod
    def variant(cls, shared_a=True, lazy=False, **_) -> "NN":
        return LazyNN() if lazy else cls(shared_a=bool(shared_a))

    def quadratic_form(self, params, activation):
        """(M, c) of the network for σ = p2 u² + p0; ``params``: W (N, d), a (N,) per neuron, c."""
        return RF().quadratic_form(params, activation)


@dataclass(frozen=True)
class LazyNN(NN):
    """f(x) = c + α(h(x; θ) − h(x; θ0)), per-neuron a (the lazy scaling; α per trained network)."""

    shared_a: bool = False
    lazy = True
    limit = NT(second_layer=True)

    def __post_init__(self):
        if self.shared_a:
            raise ValueError("alpha (lazy scaling) needs per-neuron second-layer weights a_i starting at "
                             "a0_i (shared_a=False or None): around a shared a = 0 the first layer "
                             "has no tangent direction")

    def quadratic_form(self, params, activation):
        """(M, c) for σ = p2 u² + p0; ``params``: W0, D = W − W0 (N, d), a0, b = a − a0 (N,), c, alpha.

        Σ a_i w_i w_iᵀ − Σ a0_i w0_i w0_iᵀ = Σ b_i w_i w_iᵀ + Σ a0_i (w0_i d_iᵀ + d_i w0_iᵀ + d_i d_iᵀ),
        written so that the small moves D, b keep their precision.
        """
        p0, _, p2 = activation.poly
        W0, D, a0, b = params["W0"], params["D"], params["a0"], params["b"]
        W = W0 + D
        half = (W0.T * a0) @ D
        M = (W.T * b) @ W + half + half.T + (D.T * a0) @ D
        scale = float(params["alpha"]) * (1.0 / W0.shape[0])
        return p2 * scale * M, float(params["c"]) + p0 * scale * float(b.sum())


__all__ = ["NN", "LazyNN", "second_layer_form"]
