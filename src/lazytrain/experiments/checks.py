"""Feasibility checks of a validated spec: every point that cannot be computed is found before
anything runs.

A spec can be well-typed and still ask for a point the code cannot compute:
theory with an activation that has no formula for the task, the exact NN
risk with a non-quadratic activation, the population flow for RF, a fit with
the second layer for RF. One rule for all of them: such (kind, regime,
activation) combinations are left out of the run, listed before it
(``lazytrain run``) and in the report, with the reason
(:meth:`ExperimentSpec.unavailable`); a spec none of whose points can be
computed is refused when it is validated, before the output directory is
created.

Kinds declare what they never cover (``Kind.skip_reason``); the theory, exact,
sgd and fit kinds are also probed by computing the point once at the smallest
size (N = 1 for exact and fit, whose refusals do not depend on N): cheap, and
always in step with what the solvers accept, whatever task or activation a
later version adds.
"""

from __future__ import annotations


def _probe_theory(spec, task, regime, activation):
    from ..theory import theory_risk

    theory_risk(task, regime, min(spec.neurons("theory")), activation)


def _probe_exact(spec, task, regime, activation):
    from ..exact import exact_risk
    from ..weights import random_weights

    from ..regimes import get_regime

    own = get_regime(regime, any_regime=True)
    W = random_weights(task.d, 1, seed=0)
    if own.table:  # a regime that moves W first (one step): probe its first point's move
        W, own, _ = own.prepare(task, W, activation, seed=0,
                                options=own.point_options(getattr(spec, own.table), task.d)[0])
    exact_risk(task, own.name, W, activation)


def _probe_sgd(spec, task, regime, activation):
    from ..regimes import capabilities

    flow = capabilities(task, activation, regime).population_flow
    if spec.training.method == "flow" and not flow:
        raise ValueError(f"training.method: {flow.reason}, or restrict training.regimes to ['nn']")


def _probe_fit(spec, task, regime, activation):
    from ..fitting import fit
    from ..weights import random_weights

    W = None if regime.endswith("_kernel") else random_weights(task.d, 1, seed=0)
    fit(task, regime, W, min(spec.fit.n_samples), 0.0, activation, seed=0,
        second_layer=spec.fit.second_layer, risk_rtol=1.0, max_test_samples=10_000)


#: kind -> probe(spec, task, regime, activation), raising ValueError when the point is impossible.
PROBES = {"theory": _probe_theory, "exact": _probe_exact, "sgd": _probe_sgd, "fit": _probe_fit}


def probe(spec) -> list[tuple]:
    """The (kind, regime, activation, reason) combinations of ``spec`` that cannot be computed:
    those a kind declares unavailable (``Kind.skip_reason``: no NN theory or exact NN risk for
    σ ≠ u², no theory for a task without formulas) and those whose probe fails (the reason is
    the solver's message)."""
    from ..regimes import REGISTRY
    from .kinds import KINDS
    from .tasks import build_task, canonical_json

    task = None
    out = []
    for kind in spec.kinds:
        for activation in spec.activations:
            for regime in spec.regimes_for(kind):
                own = REGISTRY.get(regime)  # (None for the fit kind's kernel limits, rf_kernel ...)
                reason = ((own.unavailable_kinds.get(kind) if own else None)
                          or KINDS[kind].skip_reason(spec.task.family, regime, activation))
                if not reason and kind in PROBES:
                    if task is None:
                        task = build_task(canonical_json(spec.task.model_dump(mode="json")))
                    try:
                        PROBES[kind](spec, task, regime, activation)
                    except (ValueError, NotImplementedError, TypeError, ArithmeticError) as exc:
                        reason = str(exc)
                if reason:
                    out.append((kind, regime, activation, reason))
    return out


def check_feasible(spec) -> list[tuple]:
    """The combinations of ``spec`` that cannot be computed (:func:`probe`), remembered on the
    spec; a ValueError (naming the field) when that is every point of the spec (nothing to run)."""
    skipped = probe(spec)
    spec._unavailable = skipped
    total = sum(len(spec.activations) * len(spec.regimes_for(kind)) for kind in spec.kinds)
    if skipped and len(skipped) == total:
        kind, regime, activation, reason = skipped[0]
        field = "training" if reason.startswith("training.") else "fit" if kind == "fit" else "kinds"
        raise ValueError(f"{field}: the {kind} points of regime {regime!r} with activation {activation!r} "
                         f"cannot be computed on this task: {reason} (and no other point of the spec can)")
    return skipped
