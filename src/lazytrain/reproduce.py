"""The paper's figures: run the figure's preset spec, write the tidy CSV, draw the figure.

Each ``figK(out, quick=...)`` runs the preset ``figK`` through the
experiment machinery (:func:`lazytrain.experiments.run_spec`: points stored
in ``out/results.sqlite`` as they finish, so an interrupted reproduction
resumes and a second call only draws), then writes ``figK.csv`` and
``figK.png``/``.pdf``. The CLI's ``lazytrain reproduce figK`` only calls these.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .bayes import bayes_risk
from .exact import exact_risk
from .experiments import ResultStore, preset, run_spec, tidy_rows
from .experiments.presets import FIG5_ALPHAS
from .figures import (legend_below, new_figure, paper_style, plot_learning_curves, plot_risk_vs_alpha,
                      plot_risk_vs_neurons, plot_weight_change_vs_alpha, save_figure)
from .records import make_row, write_csv
from .theory import theory_risk
from .weights import random_weights

REGIMES = ("rf", "nt", "nn")


def run_records(spec, out, progress: bool = True, **execution) -> list[dict]:
    """Run ``spec`` into ``out`` (resuming) and return the store records of its points.

    ``execution`` (executor, workers, scheduler) goes to :func:`run_spec`.
    """
    summary = run_spec(spec, out, progress=progress, **execution)
    with ResultStore.open(out) as store:
        return store.records(summary.keys)


def run_rows(spec, out, progress: bool = True, **execution) -> list[dict]:
    """Run ``spec`` into ``out`` (resuming) and return the tidy rows of its points."""
    return tidy_rows(run_records(spec, out, progress=progress, **execution))


def learning_curves(records, widths) -> list[dict]:
    """The SGD learning curves (risk against samples seen) stored with the points of ``widths``."""
    curves = []
    for rec in sorted(records, key=lambda r: (r["regime"], r["n_neurons"])):
        hist = json.loads(rec["extra_json"]).get("history") if rec["kind"] == "sgd" else None
        if hist and rec["n_neurons"] in widths:
            curves.append({"regime": rec["regime"], "n_neurons": rec["n_neurons"], "seed": rec["seed"],
                           "samples": np.array(hist["samples"]), "risk": np.array(hist["risk"])})
    return curves


def figure_spec(name: str, quick: bool, seed: int):
    """The preset of a figure with the weights' (and training's) seed set."""
    return preset(name, quick=quick).with_updates(seeds=[seed])


def theory_curves(task, n_max: int, activation: str = "quadratic") -> dict:
    """Dense theory curves (every integer N up to n_max) for smooth lines."""
    ns = np.arange(1, n_max + 1)
    return {r: (ns, [theory_risk(task, r, int(n), activation) for n in ns]) for r in REGIMES}


def fig1(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 1: quadratic target, quadratic activation.

    Left, risk against N: lines are the asymptotic theory, open markers the
    exact population risk for one draw of W per N (RF, NT) and the rank-N
    optimum (NN), filled markers NN trained by one-pass SGD (N ≤ d, initial
    W the same draw). Right, the paper's right panel: SGD learning curves
    (risk against samples seen) for a few N, dashed at the theory values.
    The learning curves go to ``fig1_curves.csv``.
    """
    spec = figure_spec("fig1", quick, seed)
    records = run_records(spec, out, progress=progress, **execution)
    rows = tidy_rows(records)
    task = spec.task.build()
    widths = spec.neurons("sgd")
    shown = {widths[i] for i in (0, len(widths) // 3, 2 * len(widths) // 3, -1)}
    curves = learning_curves(records, shown)
    curve_rows = [make_row(task.kind, c["regime"], "quadratic", task.d, c["n_neurons"], "sgd", r,
                           seed=c["seed"], samples=int(m))
                  for c in curves for m, r in zip(c["samples"], c["risk"])]
    out = Path(out)
    paths = [write_csv(rows, out / "fig1.csv"), write_csv(curve_rows, out / "fig1_curves.csv")]
    theory = {(c["regime"], c["n_neurons"]): theory_risk(task, c["regime"], c["n_neurons"]) for c in curves}
    with paper_style():
        fig, (ax, ax_curves) = new_figure(ncols=2)
        plot_risk_vs_neurons(ax, rows, curves=theory_curves(task, max(spec.neurons())), d=task.d)
        ax.set_title(f"Quadratic target, σ(u) = u², d = {task.d}")
        plot_learning_curves(ax_curves, curves, theory)
        ax_curves.set_title(f"NN trained by one-pass SGD (batch 100), d = {task.d}")
        paths += save_figure(fig, out, "fig1")
    return paths


def fig2(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 2: Gaussian mixture, quadratic activation, risk against N.

    Left: square risk (R0 = 1); lines are the small-Δ theory, open markers
    the exact population risk for one draw of W per N, filled markers one-pass
    SGD on the NN, the dotted line the Bayes square risk. Right: the 0-1
    error of the same fitted or trained predictors (sign of c + xᵀMx), with
    the Bayes 0-1 error dotted. The CSV has an 'error' column and 'bayes'
    rows (one per N) holding both Bayes values (a property of the task,
    computed here rather than stored as points).
    """
    from matplotlib.lines import Line2D

    spec = figure_spec("fig2", quick, seed)
    nets = run_rows(spec, out, progress=progress, **execution)
    task = spec.task.build()
    grid = spec.neurons()
    bayes = {kind: bayes_risk(task, kind) for kind in ("square", "error")}
    rows = nets + [make_row(task.kind, "bayes", "any", task.d, n, "exact", bayes["square"],
                            error=bayes["error"]) for n in grid]
    out = Path(out)
    paths = [write_csv(rows, out / "fig2.csv")]
    errors = [dict(r, risk=r["error"]) for r in nets if r["kind"] != "theory"]
    dotted = {"color": "0.2", "linestyle": ":", "linewidth": 1.2}
    legend = {"extra": [(Line2D([], [], **dotted), "Bayes")]}
    with paper_style():
        fig, (ax, ax_err) = new_figure(ncols=2)
        plot_risk_vs_neurons(ax, nets, curves=theory_curves(task, max(grid)), d=task.d, legend=legend)
        ax.axhline(bayes["square"], **dotted)
        ax.set_title(f"Gaussian mixture, d = {task.d}, $\\|\\Delta\\|_F^2 = {task.frob2:g}$: square loss")
        plot_risk_vs_neurons(ax_err, errors, d=task.d, ylabel="0-1 error P(sign f(x) ≠ y)",
                             legend=legend)
        ax_err.axhline(bayes["error"], **dotted)
        ax_err.set_ylim(-0.01, 0.52)
        ax_err.set_title("0-1 error of the same fitted predictors")
        legend_below(fig, ax, others=[ax_err])
        paths += save_figure(fig, out, "fig2")
    return paths


def exact_curves(rows, regimes=("rf", "nt")) -> dict:
    """Lines through the exact points of each regime (where no theory exists)."""
    curves = {}
    for regime in regimes:
        pts = sorted((r["n_neurons"], r["risk"]) for r in rows if r["regime"] == regime and r["kind"] == "exact")
        if pts:
            curves[regime] = ([p[0] for p in pts], [p[1] for p in pts])
    return curves


def fig3(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 3: quadratic target, ReLU activation, risk against N.

    The paper shows SGD only. Here RF and NT are the exact population risks
    of one draw of W per N on Figure 1's grid (N up to 2d; lines through the
    open markers), and NN is one-pass SGD (filled markers) on a sparser grid.
    """
    spec = figure_spec("fig3", quick, seed)
    rows = run_rows(spec, out, progress=progress, **execution)
    d = spec.d
    out = Path(out)
    paths = [write_csv(rows, out / "fig3.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=exact_curves(rows), d=d,
                             legend={"loc": "center right", "anchor": (1.0, 0.46)})  # between RF and NT
        ax.set_title(f"Quadratic target, ReLU, d = {d}")
        paths += save_figure(fig, out, "fig3")
    return paths


#: Figure 5's task options (``task=``): the recipes that replace the preset's quadratic target.
FIG5_TASKS = {"paper": {"type": "paper", "seed": 100}, "mixture": {"type": "mixture", "seed": 0, "frob2": 4.0}}


def fig5_specs(quick: bool = False, seed: int = 0, task: str = "paper", activation: str = "quadratic",
               alphas=FIG5_ALPHAS) -> list:
    """Figure 5's specs: the preset ``fig5`` once per α (``training.alpha``).

    ``task`` ('paper' or 'mixture') and ``activation`` (e.g. 'relu') replace
    the preset's; without a closed-form NN optimum (not σ = u²) there is no
    theory point.
    """
    if task not in FIG5_TASKS:
        raise ValueError(f"task must be one of {sorted(FIG5_TASKS)}, got {task!r}")
    base = figure_spec("fig5", quick, seed)
    updates = {}
    if task != "paper":
        updates["task"] = {**FIG5_TASKS[task], "d": base.d}
        if task == "mixture" and quick:  # at d = 30, ‖Δ‖_F² = 4 would give ‖Δ‖op > 1; 2 gives 0.73
            updates["task"]["frob2"] = 2.0
        updates["name"] = f"{base.name}-{task}"
    if activation != "quadratic":
        updates.update(activations=[activation], kinds=["sgd"],
                       name=f"{updates.get('name', base.name)}-{activation}")
    if updates:
        base = base.with_updates(**updates)
    training = base.training.model_dump(mode="json")
    return [base.with_updates(name=f"{base.name}-alpha{a:g}", training={**training, "alpha": float(a)})
            for a in alphas]


def figure_specs(name: str, quick: bool, seed: int) -> list:
    """Every spec a figure runs (one for most figures, one per α for Figure 5)."""
    return fig5_specs(quick, seed) if name == "fig5" else [figure_spec(name, quick, seed)]


def fig5(out, quick: bool = False, seed: int = 0, progress: bool = True, task: str = "paper",
         activation: str = "quadratic", alphas=FIG5_ALPHAS, **execution) -> list[Path]:
    """Figure 5: lazy training is linear training.

    One network of width N = d/3 (``random_weights(d, N, seed)``, a0_i = +1)
    trained by one-pass SGD under the lazy scaling f = c + α(h(θ) - h(θ0)) for
    α from 0.1 to 1000 (``train(..., alpha=α)``). Left: the risk reached
    against α, with the exact NT + second-layer risk of the same draw (the
    linearised model, α → ∞) and the NN optimum (Theorem 3, Eckart–Young;
    σ = u² only). Right: the relative weight movement ‖W - W0‖_F/‖W0‖_F
    against α, with a 1/α guide through the laziest point. ``task``
    ('paper' or 'mixture') and ``activation`` (e.g. 'relu') are options; the
    CSV and figure are named after the base spec (``fig5``, ``fig5-quick``,
    ``fig5-mixture``, ``fig5-relu``, ...).
    """
    specs = fig5_specs(quick, seed, task, activation, alphas)
    records = run_records(specs, out, progress=progress, **execution)
    rows = tidy_rows(records)
    spec = specs[0]
    built = spec.task.build()
    act = spec.activations[0]
    (n,) = spec.neurons()
    d = built.d
    lazy_limit = exact_risk(built, "nt", random_weights(d, n, seed=seed), act, second_layer=True)
    nn = [r["risk"] for r in rows if r["kind"] == "theory" and r["regime"] == "nn"]
    sgd = sorted((r for r in rows if r["kind"] == "sgd"), key=lambda r: r["alpha"])
    rows = rows + [make_row(built.kind, "nt", act, d, n, "exact", lazy_limit, seed=seed,
                            second_layer=True)]
    out = Path(out)
    paths = [write_csv(rows, out / f"{spec.name.rsplit('-alpha', 1)[0]}.csv")]
    alphas = np.array([r["alpha"] for r in sgd])
    with paper_style():
        fig, (ax, ax_w) = new_figure(ncols=2)
        plot_risk_vs_alpha(ax, alphas, np.array([r["risk"] for r in sgd]), n, lazy_limit,
                           nn[0] if nn else None)
        what = "quadratic target" if built.kind == "quadratic" else "Gaussian mixture"
        sigma = "σ(u) = u²" if act == "quadratic" else f"σ = {act}"
        ax.set_title(f"{what}, {sigma}, d = {d}, N = {n}")
        plot_weight_change_vs_alpha(ax_w, alphas, [r["weight_change"] for r in sgd])
        paths += save_figure(fig, out, spec.name.rsplit("-alpha", 1)[0])
    return paths


FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3, "fig5": fig5}
