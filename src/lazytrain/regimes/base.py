"""The contract every regime meets (the seam between regimes and the solvers).

A regime is a class of predictors f(x) = c + Σ_i (what neuron i contributes), with the first-layer
weights W (N, d) fixed or trained. Everything a solver needs from a regime is defined once, in
the regime's own file of this package, against numpy and torch alike:

``features(x, W, activation)``
    The feature map of the regime's linear class at fixed W: one row φ(x) per input, in the order
    of the coefficient layout (RF: σ(⟨w_i, x⟩); NT: x σ'(⟨w_i, x⟩) per neuron, then σ(⟨w_i, x⟩)
    with the second layer). ``x`` and ``W`` are both numpy arrays or both torch tensors.
``layout(N, d)``
    The typed :class:`CoefLayout` of those coefficients: which blocks (the tangent block b (N, d),
    the second-layer block a (N,)), how a flat vector splits into them and joins back.
``predict(x, W, activation, coef)``
    c + φ(x)ᵀβ for a :class:`Coef`, without forming φ.
``quadratic_form(params, activation)``
    For σ(u) = p2 u² + p0 the trained network of the regime (its SGD parameters, one network) as
    c + xᵀMx.
``cross_moments(task, W, activation)``
    The population cross moments v = Cov(y, φ) in the layout's order, from the task's contract
    (``task.cross_moments``); the population Gram Cov φ is built block by block from the layout
    (``lazytrain.exact.general.population_gram``: the σ block's N×N Gram, the tangent block's
    matrix-free operator), from the task's ``components`` and the activation's Gaussian moments.
``kernel(activation, X1, X2)`` / ``kernel_quadratic_form(activation, X, alpha)``
    The infinite-width kernel of the regime (N → ∞, w ~ N(0, I/d)), from :mod:`lazytrain.kernels`.

The SGD models of :mod:`lazytrain.train.models` are built from a regime object; the exact solver,
``fit`` and ``degree_risks`` ask it for the layout and the features. A new regime is one file
here and one line in :data:`lazytrain.regimes.REGISTRY` (docs/architecture.md, "How to add a
regime").

A regime that first *moves* W (``at_given_w = False``, e.g. one giant gradient step) says so
with three more things, read by the experiments layer (specs, points, runs) and nothing else:

``Settings`` and ``table``
    A pydantic model of its own settings and the name of the spec table that holds them (a
    ``[one_step]`` table). ``point_options(settings, d)`` lists the options of its points (one
    JSON-ready dict per point, part of the point's identity).
``prepare(task, W, activation, seed=, options=)``
    The W its solver takes, the regime that solves it at that W, and the extra columns a point
    keeps (``(W1, RF(), {...})`` for one step).
``unavailable_kinds``
    The kinds of point it never has, with the reason (one step has exact points only).

The public functions that evaluate a regime at a given W (``exact_risk``, ``fit``, ``train``,
``theory_risk``) refuse such a regime with its ``use_instead`` message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def namespace(x):
    """The array library of ``x``: numpy, or torch for a torch tensor (imported only then)."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


def concat(parts, xp):
    """Concatenate 1-D or 2-D arrays along the last axis, in numpy or torch."""
    if xp is np:
        return np.concatenate(parts, axis=-1)
    return xp.cat(parts, dim=-1)


@dataclass(frozen=True)
class Coef:
    """The coefficients of one predictor of a linear regime at fixed W.

    f(x) = offset + Σ_i ⟨b_i, x⟩ σ'(⟨w_i, x⟩) + Σ_i a_i σ(⟨w_i, x⟩); a block a regime does not have
    is None. :meth:`as_dict` is the dict view ``FitResult.coef`` keeps.
    """

    offset: float
    a: np.ndarray | None = None
    b: np.ndarray | None = None

    def as_dict(self) -> dict:
        out = {"offset": self.offset}
        if self.a is not None:
            out["a"] = self.a
        if self.b is not None:
            out["b"] = self.b
        return out

    @classmethod
    def from_dict(cls, coef: dict) -> "Coef":
        return cls(offset=float(coef["offset"]), a=coef.get("a"), b=coef.get("b"))


@dataclass(frozen=True)
class CoefLayout:
    """Where the coefficients of a linear regime live in one flat vector β.

    The tangent block b (N·d entries, row-major (N, d)) comes first when present, then the
    second-layer block a (N entries).
    """

    n_neurons: int
    d: int
    tangent: bool
    scalar: bool

    @property
    def size(self) -> int:
        """P, the number of coefficients (without the offset)."""
        return self.n_neurons * self.d * self.tangent + self.n_neurons * self.scalar

    @property
    def tangent_size(self) -> int:
        return self.n_neurons * self.d if self.tangent else 0

    def split(self, beta):
        """(b (N, d) or None, a (N,) or None): views of the flat vector ``beta`` (numpy or torch)."""
        nd = self.tangent_size
        b = beta[:nd].reshape(self.n_neurons, self.d) if self.tangent else None
        a = beta[nd:] if self.scalar else None
        return b, a

    def join(self, b=None, a=None):
        """The flat vector of blocks b (N, d) and a (N,) (numpy or torch), those the layout has."""
        parts = []
        if self.tangent:
            parts.append(b.reshape(-1))
        if self.scalar:
            parts.append(a)
        return concat(parts, namespace(parts[0]))

    def coef(self, offset, beta) -> Coef:
        """The typed coefficients of the flat vector ``beta`` and the offset."""
        b, a = self.split(beta)
        return Coef(offset=float(offset), a=a, b=b)

    def flat(self, coef: Coef):
        """β of a :class:`Coef` (the inverse of :meth:`coef`, without the offset)."""
        return self.join(coef.b, coef.a)


class Regime:
    """One regime: a frozen, hashable description (a variant is an instance with other fields).

    Subclasses are frozen dataclasses that set ``name`` and implement the methods below;
    ``tangent``/``scalar`` say which blocks their linear class has.
    """

    name: str = ""
    #: Does the linear class at fixed W have the tangent block x σ'(⟨w_i, x⟩) / the block σ(⟨w_i, x⟩)?
    tangent: bool = False
    scalar: bool = False
    #: Is the regime a linear class at fixed W (solved exactly by least squares)?
    linear: bool = True
    #: Is it the lazily scaled variant of a network (trained with a laziness factor α)?
    lazy: bool = False
    #: Does the population gradient flow train it (quadratic σ, a task with predictor_risk_grad)?
    flow: bool = False
    #: How figures and reports show it: a label, a colour and a marker.
    label: str = ""
    style: dict = {}
    #: Is it evaluated at the W it is given (False: it first moves W, :meth:`prepare`)?
    at_given_w: bool = True
    #: For a regime that moves W: what to call instead of evaluating it at a given W.
    use_instead: str = ""
    #: The spec table of the regime's own settings and its pydantic model (None: it has none).
    table: str | None = None
    Settings = None
    #: kind -> why the regime never has a point of that kind (e.g. no SGD for one step).
    unavailable_kinds: dict = {}

    def point_options(self, settings, d: int) -> list[dict]:
        """The options of the regime's points for its spec table ``settings`` at dimension d."""
        raise ValueError(f"regime {self.name!r} has no settings table")

    def prepare(self, task, W, activation, *, seed: int = 0, options: dict | None = None, info=None):
        """(W', solver regime, extra columns): what the exact solver evaluates for this regime.

        The default evaluates the regime itself at the W it is given."""
        return W, self, {}

    @classmethod
    def variant(cls, **options) -> "Regime":
        """The regime's variant for these options (keywords of other regimes' variants are ignored)."""
        return cls()

    def settings(self) -> dict:
        """The variant's fields as recorded in a training run's settings (besides the name)."""
        return {}

    def layout(self, n_neurons: int, d: int) -> CoefLayout:
        """The coefficient layout of the linear class (``linear`` regimes)."""
        if not self.linear:
            raise ValueError(f"regime {self.name!r} is not a linear class at fixed W: it has no "
                             "coefficient layout")
        return CoefLayout(int(n_neurons), int(d), self.tangent, self.scalar)

    def features(self, x, W, activation):
        """φ(x) for every row of x: shape (n, P), in the order of :meth:`layout` (numpy or torch)."""
        xp = namespace(x)
        u = x @ W.T
        parts = []
        if self.tangent:
            D = activation.derivative(u)
            n, N = D.shape
            parts.append((D[:, :, None] * x[:, None, :]).reshape(n, N * x.shape[1]))
        if self.scalar:
            parts.append(activation.fn(u))
        return parts[0] if len(parts) == 1 else concat(parts, xp)

    def predict(self, x, W, activation, coef: Coef):
        """c + φ(x)ᵀβ at the rows of x, without forming φ: shape (n,) (numpy or torch)."""
        xp = namespace(x)
        u = x @ W.T
        out = coef.offset
        if self.tangent:
            out = out + xp.einsum("ni,ni->n", activation.derivative(u), x @ coef.b.T)
        if self.scalar:
            out = out + activation.fn(u) @ coef.a
        return out

    def cross_moments(self, task, W, activation, errors: bool = False):
        """v = Cov(y, φ) (flat, layout order) from ``task.cross_moments``; with ``errors`` the
        task's error estimates in the same order (None when the task gives none)."""
        layout = self.layout(*W.shape)
        if errors:
            est = getattr(task, "cross_moment_errors", lambda W, act: None)(W, activation)
            return None if est is None else layout.join(est[1], est[0])
        rf, nt = task.cross_moments(W, activation)
        return layout.join(nt, rf)

    def kernel(self, activation, X1, X2=None, tol=1e-12):
        """The infinite-width kernel matrix k(X1_i, X2_j) (numpy)."""
        raise ValueError(f"regime {self.name!r} has no infinite-width kernel")

    def kernel_quadratic_form(self, activation, X, alpha):
        """(M, c0) with Σ_j α_j k(X_j, x) = c0 + xᵀMx, for σ(u) = p2 u² + p0."""
        raise ValueError(f"regime {self.name!r} has no infinite-width kernel")

    def quadratic_form(self, params: dict, activation):
        """(M, c) with f(x) = c + xᵀMx for one trained network (see the subclasses)."""
        raise NotImplementedError(f"regime {self.name!r} has no quadratic form")

    def __str__(self) -> str:
        return self.name
