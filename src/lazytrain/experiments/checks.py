"""Feasibility checks of a validated spec: every impossible point is refused before anything runs.

A spec can be well-typed and still ask for a point the code cannot compute:
theory with an activation that has no formula for the task, the exact NN
risk with a non-quadratic activation, the population flow for RF. Such a
spec is refused when it is validated (naming the field), before the output
directory is created, rather than failing mid-run.

The theory and exact kinds are probed by computing the point at the
smallest N once (N = 1 for exact, whose refusals do not depend on N): cheap,
and always in step with what the solvers accept, whatever task or
activation a later version adds. Kinds without a probe are not checked here.
"""

from __future__ import annotations


def _probe_theory(spec, task, regime, activation):
    from ..theory import theory_risk

    theory_risk(task, regime, min(spec.neurons("theory")), activation)


def _probe_exact(spec, task, regime, activation):
    from ..exact import exact_risk
    from ..weights import random_weights

    if regime == "one-step":  # one step, then the exact RF risk of W1: probe a step and RF
        from ..train.one_step import one_step

        W = one_step(task, random_weights(task.d, 1, seed=0), activation, lr=1.0, n_samples=2)
        exact_risk(task, "rf", W, activation)
        return
    exact_risk(task, regime, random_weights(task.d, 1, seed=0), activation)


def _probe_sgd(spec, task, regime, activation):
    from ..activations import get_activation

    if spec.training.method == "flow" and (regime != "nn" or not get_activation(activation).is_even_quadratic):
        raise ValueError(f"training.method 'flow' (the population gradient flow) needs regime 'nn' "
                         f"and the quadratic activation, got regime {regime!r} and activation "
                         f"{activation!r}; use method 'sgd' or restrict training.regimes to ['nn']")


#: kind -> probe(spec, task, regime, activation), raising ValueError when the point is impossible.
PROBES = {"theory": _probe_theory, "exact": _probe_exact, "sgd": _probe_sgd}


def check_feasible(spec) -> None:
    """Raise ValueError (naming the field) if some point of ``spec`` cannot be computed.

    Combinations a kind declares unavailable (``Kind.skip_reason``: no NN theory
    or exact NN risk for σ ≠ u², no theory for a task without formulas) are not
    refused: runs leave them out and report them (``ExperimentSpec.unavailable``),
    unless they are all the spec asks for (then there is nothing to run).
    """
    from .kinds import KINDS
    from .tasks import build_task, canonical_json

    task = build_task(canonical_json(spec.task.model_dump(mode="json")))
    skipped, total = [], 0
    for kind in spec.kinds:
        probe = PROBES.get(kind)
        if probe is None:
            continue
        for activation in spec.activations:
            for regime in spec.regimes_for(kind):
                total += 1
                reason = KINDS[kind].skip_reason(spec.task.family, regime, activation)
                if reason:
                    skipped.append((kind, regime, activation, reason))
                    continue  # left out of runs, with the reason
                try:
                    probe(spec, task, regime, activation)
                except (ValueError, NotImplementedError, TypeError) as exc:
                    msg = str(exc)
                    field = "training" if msg.startswith("training.") else "kinds"
                    raise ValueError(
                        f"{field}: the {kind} points of regime {regime!r} with activation "
                        f"{activation!r} cannot be computed on this task: {msg}") from None
    if skipped and len(skipped) == total:
        kind, regime, activation, reason = skipped[0]
        raise ValueError(f"kinds: the {kind} points of regime {regime!r} with activation {activation!r} "
                         f"cannot be computed on this task: {reason} (and no other point of the spec can)")
