"""The paper's figures as specs (a preset is just a spec).

``preset(name, quick=False)``: the figure at the paper's scale (d = 450),
or its quick variant at a small dimension (seconds).
"""

from __future__ import annotations

from .spec import ExperimentSpec, SpecError, validate_spec


def _figure(name: str, quick: bool, description: str, task: dict, activation: str,
            kinds: list[str], regimes=("rf", "nt", "nn")) -> dict:
    """The common shape of the figure presets: d = 450 (quick: 60), N up to 2d."""
    d = 60 if quick else 450
    step = 4 if quick else 30
    return {
        "name": f"{name}-quick" if quick else name,
        "description": description,
        "task": {**task, "d": d},
        "regimes": list(regimes),
        "activations": [activation],
        # the paper's grid {30, ..., 450} and beyond d, up to 2d, to show the N >= d regime
        "n_neurons": {"start": step, "stop": 2 * d, "step": step},
        "kinds": kinds,
    }


def _fig1(quick: bool) -> dict:
    return _figure("fig1", quick, "Quadratic target, quadratic activation: risk against N "
                   "(paper Fig. 1)", {"type": "paper", "seed": 100}, "quadratic",
                   ["theory", "exact"])


def _fig2(quick: bool) -> dict:
    return _figure("fig2", quick, "Mixture of two Gaussians, quadratic activation: risk against "
                   "N (paper Fig. 2)", {"type": "mixture", "seed": 0, "frob2": 4.0}, "quadratic",
                   ["theory", "exact"])


def _fig3(quick: bool) -> dict:
    # no theory for ReLU, and no exact NN (a non-convex problem): RF and NT exact risks
    return _figure("fig3", quick, "Quadratic target, ReLU activation: risk against N "
                   "(paper Fig. 3)", {"type": "paper", "seed": 100}, "relu", ["exact"],
                   regimes=("rf", "nt"))


PRESETS = {"fig1": _fig1, "fig2": _fig2, "fig3": _fig3}


def preset(name: str, quick: bool = False) -> ExperimentSpec:
    """The spec of a named preset (``fig1``, ``fig2``, ``fig3``), full or quick."""
    key = str(name).lower()
    if key not in PRESETS:
        raise SpecError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    try:
        return validate_spec(PRESETS[key](quick))
    except SpecError as exc:
        raise SpecError(f"preset {key!r} cannot run in this installation: {exc}") from None
