"""One giant step: one full-batch gradient step of the first layer, then random features on W1.

From W0, one step W1 = W0 − η√N ∇_W L̂(W0) on n0 fresh samples with the second layer at its
initial value (Ba, Erdogdu, Suzuki, Wang, Wu, Yang 2022, arXiv 2205.01445; the step itself is
:func:`lazytrain.one_step`), then the best second layer on W1: the RF class at W1, solved exactly
(an infinite-sample second layer). It sits between RF (η = 0) and the trained network.

In a spec it is the regime ``"one-step"`` with a ``[one_step]`` table (:class:`OneStepSettings`):
each ``exact`` point takes W0 = ``random_weights(d, N, seed)``, takes the step with that seed and
reports ``exact_risk(task, 'rf', W1)``; η and n0 are part of the point's identity. The public
functions that evaluate a regime at a given W refuse it: take the step, then ask for 'rf' at W1.
Its theory is :mod:`lazytrain.theory.one_step` (single-index targets), not ``theory_risk``.

The step (:func:`one_step`, public as ``lazytrain.one_step``). The network at initialisation is
f(x) = (1/√N) Σ_i a_i σ(⟨w_i, x⟩) with rows w_i of W0 and second-layer weights a_i = s_i/√N, s_i = ±1 fair signs (``a0='signs'``, the default) or s_i = 1
(``a0='ones'``, as in the simulations of Cui et al., arXiv 2402.04980). On n fresh samples the
empirical loss is L̂(W) = (1/2n) Σ_k (y_k − f(x_k))², and the step is

    W1 = W0 − η √N ∇_W L̂(W0),   ∇_{w_i} L̂ = −(1/n) Σ_k (y_k − f(x_k)) (a_i/√N) σ'(⟨w_i, x_k⟩) x_k,

Ba et al.'s normalisation (their W1 = W0 + η√N G0): with w_i ~ N(0, I/d) the update is a
spike of operator norm Θ(η), so η = Θ(1) is their small step and η = Θ(√N) their large one,
which moves every neuron by O(1). docs/theory.md, "One giant step", derives what follows.

Everything is float64 numpy; the step checks itself (:class:`OneStepError`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from .._validation import (check_choice, check_positive_float, check_positive_int, check_weights,
                           no_duplicates)
from ..activations import get_activation
from .base import Regime
from .rf import RF

#: Laws of the second layer at initialisation: a_i = s_i/√N with s_i = ±1 or s_i = 1.
ONE_STEP_A0 = ("signs", "ones")
#: Default bound on ‖W1 − W0‖_F / ‖W0‖_F above which the step is called divergent.
MAX_CHANGE = 1e4
#: Smallest ratio of a row norm of W1 to the largest one: below it a pre-activation variance is lost.
MIN_ROW = 1e-7
#: Rows of the sample matrix processed at once (bounds the memory to CHUNK·N floats).
CHUNK = 4096


class OneStepError(ArithmeticError):
    """The giant step diverged (a non-finite or exploding W1) or left a W1 the solvers cannot use."""


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_lr(lr) -> float:
    try:
        out = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"lr must be a finite number >= 0 (Ba et al.'s η), got {lr!r}") from None
    if isinstance(lr, bool) or not np.isfinite(out) or out < 0:
        raise ValueError(f"lr must be a finite number >= 0 (Ba et al.'s η), got {lr!r}")
    return out


def initial_second_layer(n_neurons: int, a0: str = "signs", seed: int = 0) -> np.ndarray:
    """a_i = s_i/√N, the second layer :func:`one_step` starts from (the same draw for the same seed)."""
    n = check_positive_int("n_neurons", n_neurons)
    a0 = check_choice("a0", a0, ONE_STEP_A0)
    if a0 == "ones":
        return np.full(n, 1.0 / np.sqrt(n))
    rng = np.random.default_rng(np.random.SeedSequence([_check_seed(seed), 1]))
    return rng.choice([-1.0, 1.0], size=n) / np.sqrt(n)


def one_step_gradient(x, y, W, a, activation):
    """(∇_W L̂, L̂) at (W, a) on the samples (x, y): L̂ = (1/2n) Σ (y − f)², f = (1/√N) Σ a_i σ(⟨w_i, x⟩).

    float64, in chunks of :data:`CHUNK` samples. Tested against torch autograd.
    """
    act = get_activation(activation)
    n, N = len(x), W.shape[0]
    grad = np.zeros_like(W)
    loss = 0.0
    scale = a / np.sqrt(N)
    for start in range(0, n, CHUNK):
        xc = x[start:start + CHUNK]
        u = xc @ W.T
        resid = y[start:start + CHUNK] - act.fn(u) @ scale
        loss += float(resid @ resid)
        grad -= ((resid[:, None] * act.derivative(u)) * scale).T @ xc
    return grad / n, loss / (2 * n)


def one_step(task, W, activation="relu", *, lr, n_samples, seed=0, a0="signs", max_change=MAX_CHANGE,
             info=None) -> np.ndarray:
    r"""One full-batch gradient step of the first layer from W: W1 = W − η√N ∇_W L̂(W).

    The second layer stays at its initial value a_i = s_i/√N (:func:`initial_second_layer`);
    L̂ is the half mean squared error on ``n_samples`` fresh samples of ``task``. W1 is a
    weight matrix like any other: ``exact_risk(task, 'rf', W1, activation)`` is the risk of the
    best second layer (infinite samples), ``fit(task, 'rf', W1, n_samples=n, ridge=λ)`` a
    ridge fit on n samples.

    Parameters
    ----------
    task : lazytrain task
        Anything with ``d`` and ``sample(n, rng)``.
    W : array of shape (N, d)
        The first layer at initialisation, e.g. ``random_weights(d, N, seed)``.
    activation : str, Activation or callable, default 'relu'
    lr : float >= 0
        η in Ba et al.'s normalisation (arXiv 2205.01445): Θ(1) is the small step that learns
        only the linear part of the target, Θ(√N) the giant step. 0 returns W.
    n_samples : int
        n0, the batch of the step (fresh samples, drawn from ``seed``).
    seed : int, default 0
        Seeds the samples and the signs s_i (independent streams).
    a0 : {'signs', 'ones'}, default 'signs'
        s_i = ±1 fair signs (Ba et al.'s centred second layer) or s_i = 1 (Cui et al.).
    max_change : float, default 1e4
        ‖W1 − W‖_F/‖W‖_F above this raises :class:`OneStepError` (a diverging step).
    info : dict, optional
        Receives ``a`` (the second layer), ``train_loss`` (L̂ at W, before the step),
        ``grad_norm`` (‖∇_W L̂‖_F), ``weight_change`` (‖W1 − W‖_F/‖W‖_F),
        ``singular_values`` (the top two of W1) and ``top_direction`` (W1's top right
        singular vector, unit norm).

    Returns
    -------
    ndarray of shape (N, d), float64

    Raises
    ------
    ValueError
        Bad input (the message names the parameter).
    OneStepError
        The gradient or W1 is not finite, W1 moved more than ``max_change`` relative to W,
        or a row of W1 (nearly) vanished: norm below 10⁻⁷ of the largest, where the exact
        solvers cannot resolve its pre-activation variance. A huge step is not an error in
        itself: W1 then tends to −η√N∇L̂ up to scale, and the exact RF risk to a limit (for
        ReLU at d = N = 40 it moved by 3·10⁻⁴ between η = 10⁴ and 10⁸); the exact solver
        checks its own accuracy (:class:`~lazytrain.MomentAccuracyError`).

    Examples
    --------
    >>> import numpy as np, lazytrain as lt
    >>> task = lt.HermiteTarget(np.eye(1, 50), [[1.0, 0.5]])
    >>> W0 = lt.random_weights(50, 50, seed=0)
    >>> W1 = lt.one_step(task, W0, "relu", lr=2.0, n_samples=200)
    >>> W1.shape, lt.exact_risk(task, "rf", W1, "relu") < lt.exact_risk(task, "rf", W0, "relu")
    ((50, 50), True)
    """
    if not callable(getattr(task, "sample", None)) or not isinstance(getattr(task, "d", None), numbers.Integral):
        raise ValueError(f"task must be a lazytrain task with d and sample(n, rng), got {type(task).__name__}")
    W = check_weights(W, task.d)
    act = get_activation(activation)
    lr = _check_lr(lr)
    n = check_positive_int("n_samples", n_samples)
    seed = _check_seed(seed)
    max_change = check_positive_float("max_change", max_change)
    N = W.shape[0]
    a = initial_second_layer(N, a0, seed)
    x, y = task.sample(n, np.random.default_rng(np.random.SeedSequence([seed, 0])))
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        grad, loss = one_step_gradient(x, y, W, a, act)
    if not (np.all(np.isfinite(grad)) and np.isfinite(loss)):
        raise OneStepError(f"one_step: the gradient at W is not finite (activation {act.name!r}, "
                           f"n_samples={n}); check the activation's derivative and the task's samples")
    W1 = W - (lr * np.sqrt(N)) * grad
    change = float(np.linalg.norm(W1 - W) / np.linalg.norm(W))
    if not (np.all(np.isfinite(W1)) and change <= max_change):
        raise OneStepError(
            f"one_step diverged: ‖W1 − W0‖_F/‖W0‖_F = {change:.3g} exceeds max_change={max_change:g} "
            f"(lr={lr:g}, ‖∇L̂‖_F = {np.linalg.norm(grad):.3g}); use a smaller lr")
    rows = np.linalg.norm(W1, axis=1)
    if not rows.min() > MIN_ROW * rows.max():
        raise OneStepError(
            f"one_step: row {int(rows.argmin())} of W1 has norm {rows.min():.3g} against a largest "
            f"{rows.max():.3g}; the exact solvers need every pre-activation variance ‖w_i‖² > 0 "
            f"resolved in float64 (lr={lr:g})")
    if info is not None:
        _, sv, vt = np.linalg.svd(W1, full_matrices=False)
        top = vt[0]
        info.update(a=a, train_loss=loss, grad_norm=float(np.linalg.norm(grad)), weight_change=change,
                    singular_values=sv[:2].copy(), top_direction=top.copy())
    return W1


def top_alignment(W, direction) -> float:
    """|⟨v, u⟩| for v the top right singular vector of W and u = direction/‖direction‖."""
    u = np.asarray(direction, dtype=np.float64).ravel()
    W = check_weights(W, u.size)
    _, _, vt = np.linalg.svd(W, full_matrices=False)
    return float(abs(vt[0] @ u) / np.linalg.norm(u))


class OneStepSettings(BaseModel):
    """The ``[one_step]`` table: the step sizes η (one point each), n0 and the second layer's start.

    ``n_samples`` (n0) is a number, or ``n_samples_per_d`` gives n0 = round(n_samples_per_d·d).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(min_length=1)
    n_samples: PositiveInt | None = None
    n_samples_per_d: PositiveFloat | None = None
    a0: Literal["signs", "ones"] = "signs"

    @field_validator("lr")
    @classmethod
    def _unique(cls, v, info):
        return no_duplicates(info.field_name, v)

    @model_validator(mode="after")
    def _one_n0(self):
        if (self.n_samples is None) == (self.n_samples_per_d is None):
            raise ValueError("one_step: give exactly one of n_samples (n0) and n_samples_per_d (n0/d)")
        return self

    def options(self, d: int, lr: float) -> dict:
        """The settings that determine a one-step point's value (part of its identity)."""
        n0 = self.n_samples if self.n_samples is not None else max(1, round(self.n_samples_per_d * d))
        return {"lr": float(lr), "n_samples": int(n0), "a0": self.a0}


@dataclass(frozen=True)
class OneStep(Regime):
    """One giant gradient step of the first layer, then the RF class at W1."""

    name = "one-step"
    label = "one step"
    style = {"color": "#9467bd", "marker": "D"}
    scalar = True            # at W1: the RF class
    at_given_w = False       # W0 is moved first
    use_instead = ("the regime 'one-step' first moves W: take the step with "
                   "W1 = lazytrain.one_step(task, W, activation, lr=..., n_samples=...), then ask for "
                   "'rf' at W1 (e.g. exact_risk(task, 'rf', W1, activation))")
    table = "one_step"
    Settings = OneStepSettings
    unavailable_kinds = {
        kind: ("the regime 'one-step' has exact points only (one gradient step, then "
               "exact_risk(task, 'rf', W1)); its theory is lazytrain.theory.one_step")
        for kind in ("theory", "sgd", "fit")}

    def point_options(self, settings: OneStepSettings, d: int) -> list[dict]:
        """One point per step size η of the table (its options: lr, n_samples, a0)."""
        return [settings.options(d, lr) for lr in settings.lr]

    def prepare(self, task, W, activation, *, seed: int = 0, options: dict | None = None, info=None):
        """(W1, RF(), columns): the step, the regime that solves it, its weight change and, for a
        single-index task, the alignment of W1's top singular vector with the direction."""
        opts = options or {}
        step = {} if info is None else info
        W1 = one_step(task, W, activation, lr=opts["lr"], n_samples=opts["n_samples"],
                      a0=opts.get("a0", "signs"), seed=seed, info=step)
        extra = {"weight_change": step["weight_change"]}  # lr, n_samples and a0: the point's options
        directions = getattr(task, "directions", None)
        if directions is not None and len(directions) == 1:
            extra["alignment"] = top_alignment(W1, directions[0])
        return W1, RF(), extra


__all__ = ["MAX_CHANGE", "ONE_STEP_A0", "OneStep", "OneStepError", "OneStepSettings", "initial_second_layer",
           "one_step", "one_step_gradient", "top_alignment"]
