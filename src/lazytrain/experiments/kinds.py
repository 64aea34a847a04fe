"""The kinds of risk a point can ask for, and how each is computed.

A :class:`Kind` says how to compute one point of its kind from the built
task, whether it is cheap enough for the driver to compute inline, whether
it depends on a seed and on the training settings. The registry
:data:`KINDS` is what specs validate against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: ``max_memory`` of the API calls that compute a spec's points: the spec's memory was checked
#: against the run's limit when it was validated (:mod:`.limits`), so a worker does not check again
#: against the memory available at that moment (lower while other workers run).
CHECKED = 2**62

#: Every point is computed with exactly this many BLAS/OpenMP/torch threads,
#: on every executor, so that its floating-point result does not depend on
#: where it ran. Sweeps get their parallelism from running points side by side.
THREADS_PER_POINT = 1


def _theory(task, point):
    from ..theory import theory_risk

    return theory_risk(task, point.regime, point.n_neurons, point.activation), {}


def _theory_skip(family, regime, activation):
    from ..theory import theory_unavailable

    return theory_unavailable(family, regime, activation)


def _exact_skip(family, regime, activation):
    from ..regimes import capabilities

    if regime != "nn":  # the classes at fixed W (any σ), and the regimes that move W first, have one
        return None
    exact_nn = capabilities(None, activation, regime).exact_nn
    return None if exact_nn else exact_nn.reason


def _exact_by_degree(task, regime, W, activation):
    """A Hermite target's exact point with the risk left in each degree (columns risk_deg1, ...)."""
    from ..activations import get_activation
    from ..exact.degrees import degree_risks

    acc = degree_risks(task, regime, W, get_activation(activation), max_memory=CHECKED)
    extra = {f"risk_deg{ell}": v for ell, v in acc["by_degree"].items()}
    extra["risk_above"] = acc["above"]
    return acc["risk"], extra


def _exact(task, point):
    """The exact risk at W = random_weights(d, N, seed), or at the W a regime moves it to first
    (``Regime.prepare``: one step, with the point's options), with the columns it adds."""
    from ..exact import best_quadratic_form, exact_risk
    from ..regimes import get_regime
    from ..tasks import HermiteTarget
    from ..weights import random_weights

    W = random_weights(task.d, point.n_neurons, seed=point.seed)
    W, regime, moved = get_regime(point.regime, any_regime=True).prepare(
        task, W, point.activation, seed=point.seed, options=point.training_options)
    if regime.name in ("rf", "nt") and isinstance(task, HermiteTarget):
        risk, extra = _exact_by_degree(task, regime.name, W, point.activation)
        return risk, {**extra, **moved}
    risk = exact_risk(task, regime.name, W, point.activation, max_memory=CHECKED)
    # extra columns the task gives for the best quadratic form (e.g. the mixture's 0-1 error)
    form = best_quadratic_form(task, regime.name, W, point.activation)
    return risk, {**({} if form is None else task.quadratic_form_columns(*form)), **moved}


def _train_function():
    try:
        from ..train import train
    except ImportError:  # torch missing
        return None
    return train


def _sgd_unavailable():
    if _train_function() is None:
        return "SGD training (lazytrain.train) is not part of this installation of lazytrain"
    return None


def _sgd_extra(task, result) -> dict:
    """What an SGD point keeps besides its risk: how the risk was measured, and the learning curve.

    A trained quadratic-activation network is a quadratic form c + xᵀMx; the
    task may give extra columns for it (``task.quadratic_form_columns``).
    """
    hist = result.history
    form = getattr(result, "quadratic_form", None)
    lazy = {} if getattr(result, "alpha", None) is None else {"alpha": float(result.alpha)}
    return {**({} if form is None else task.quadratic_form_columns(*form)), **lazy,
            "samples": result.samples, "risk_method": result.risk_method,
            "risk_se": float(result.risk_se), "weight_change": float(result.weight_change),
            "history": {"steps": [int(x) for x in hist.steps],
                        "samples": None if hist.samples is None else [int(x) for x in hist.samples],
                        "risk": [float(x) for x in hist.risk], "kind": hist.kind,
                        "weight_change": (None if hist.weight_change is None
                                          else [float(x) for x in hist.weight_change])}}


def _sgd_many(task, points):
    """Train the widths of ``points`` (same everything but N) together: one ``train_sweep``.

    The widths share every batch and one matrix product (docs/performance.md);
    each network is the one ``train`` would give up to float rounding, which
    is why the co-trained widths are part of the points' identity.
    """
    import torch

    from ..train import train_sweep

    torch.set_num_threads(THREADS_PER_POINT)
    p = points[0]
    options = {**p.training_options, "lr": [q.training_options["lr"] for q in points]}
    results = train_sweep(task, p.regime, [q.n_neurons for q in points], activation=p.activation,
                          seed=p.seed, max_memory=CHECKED, **options)
    return [(r.risk, _sgd_extra(task, r)) for r in results]


def _sgd(task, point):
    import torch

    torch.set_num_threads(THREADS_PER_POINT)
    result = _train_function()(task, point.regime, point.n_neurons, activation=point.activation,
                               seed=point.seed, max_memory=CHECKED, **point.training_options)
    return result.risk, _sgd_extra(task, result)


def _fit(task, point):
    """A predictor fitted on n samples (``point.training``: n_samples, ridge, ...), its population risk.

    ``ridge = "tuned"``: the ridge of ``ridge_grid`` with the least population risk for this draw
    (an oracle: the population risk serves as the validation set), all fitted on one sample.
    """
    from ..fitting import fit_ridges
    from ..weights import random_weights

    opts = point.training_options
    tuned = opts["ridge"] == "tuned"
    ridges = opts["ridge_grid"] if tuned else [opts["ridge"]]
    kernel = point.regime.endswith("_kernel")
    W = None if kernel else random_weights(task.d, point.n_neurons, seed=point.seed)
    results = fit_ridges(task, point.regime, W, opts["n_samples"], ridges, point.activation,
                         seed=point.seed, second_layer=opts.get("second_layer", False))
    best = min(results, key=lambda r: r.risk)
    return best.risk, {"n_samples": opts["n_samples"], "ridge": best.settings["ridge"],
                       "ridge_setting": str(opts["ridge"]), "train_risk": best.train_risk,
                       "risk_se": best.info["risk_se"], "method": best.info["method"]}


@dataclass(frozen=True)
class Kind:
    """How to compute the points of one kind.

    Attributes
    ----------
    name : str
    compute : callable (task, point) -> (risk, extra)
        ``risk`` is R/R0; ``extra`` a JSON-ready dict kept with the result.
    cheap : bool
        Computed inline by the driver rather than sent to a worker.
    seeded : bool
        One point per seed (False: a single point without seed).
    trained : bool
        The training settings are part of the point.
    unavailable : callable () -> str or None
        Why this kind cannot run in this installation (None when it can).
    compute_many : callable (task, points) -> list of (risk, extra), optional
        Computes several points that differ only in N at once (SGD: the
        widths trained together on one sample stream).
    skip_reason : callable (family, regime, activation) -> str or None
        Why this kind has no value for that combination (e.g. no theory for
        the NN with ReLU); such points are left out of a run and reported.
    """

    name: str
    compute: Callable
    cheap: bool = False
    seeded: bool = True
    trained: bool = False
    unavailable: Callable[[], str | None] = lambda: None
    compute_many: Callable | None = None
    skip_reason: Callable[[str, str, str], str | None] = lambda family, regime, activation: None


#: name -> Kind, in display order.
KINDS: dict[str, Kind] = {
    "theory": Kind("theory", _theory, cheap=True, seeded=False, skip_reason=_theory_skip),
    "exact": Kind("exact", _exact, skip_reason=_exact_skip),
    "sgd": Kind("sgd", _sgd, trained=True, unavailable=_sgd_unavailable, compute_many=_sgd_many),
    "fit": Kind("fit", _fit),
}
