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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from .._validation import no_duplicates
from .base import Regime
from .rf import RF


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
        from ..train.one_step import one_step, top_alignment

        opts = options or {}
        step = {} if info is None else info
        W1 = one_step(task, W, activation, lr=opts["lr"], n_samples=opts["n_samples"],
                      a0=opts.get("a0", "signs"), seed=seed, info=step)
        extra = {"weight_change": step["weight_change"]}  # lr, n_samples and a0: the point's options
        directions = getattr(task, "directions", None)
        if directions is not None and len(directions) == 1:
            extra["alignment"] = top_alignment(W1, directions[0])
        return W1, RF(), extra


__all__ = ["OneStep", "OneStepSettings"]
