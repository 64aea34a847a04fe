"""The paper's figures: compute the points, write the tidy CSV, draw the figure.

Each ``figK(out, quick=...)`` returns the paths it wrote. The CLI's
``lazytrain reproduce figK`` only calls these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .bayes import bayes_risk
from .exact import exact_risk
from .exact.mixture import best_predictor
from .figures import (legend_below, new_figure, paper_style, plot_learning_curves, plot_risk_vs_neurons,
                      save_figure)
from .records import make_row, write_csv
from .tasks import GaussianMixture, QuadraticTarget
from .theory import theory_risk
from .train import train_sweep
from .weights import random_weights

REGIMES = ("rf", "nt", "nn")


@dataclass(frozen=True)
class GridSettings:
    """A figure's sizes: the paper's d = 450, or a small quick version."""

    d: int
    n_grid: tuple
    task_seed: int = 100

    @classmethod
    def make(cls, quick: bool, task_seed: int = 100) -> "GridSettings":
        if quick:
            d = 60
            return cls(d=d, n_grid=tuple(range(4, 2 * d + 1, 4)), task_seed=task_seed)
        d = 450
        # the paper's grid {30, ..., 450} and beyond d, up to 2d, to show the N >= d regime
        return cls(d=d, n_grid=tuple(range(30, 2 * d + 1, 30)), task_seed=task_seed)


def exact_point(task, regime: str, W, activation: str) -> dict:
    """The columns of one exact row: the population risk of the regime's best predictor."""
    return {"risk": exact_risk(task, regime, W, activation)}


def risk_points(task, n_grid, seed: int, activation: str = "quadratic", regimes=REGIMES,
                progress: bool = True, point=exact_point, theory: bool = True) -> list[dict]:
    """Theory (unless ``theory=False``) and exact rows for a task over an N grid (one W per N).

    ``point(task, regime, W, activation)`` gives the exact row's columns
    (at least 'risk'); the mixture adds the fitted predictor's 0-1 error.
    """
    rows = []
    for n in tqdm(n_grid, desc="exact risks", unit="N", disable=not progress, leave=False):
        W = random_weights(task.d, n, seed=seed)
        for regime in regimes:
            if theory:
                rows.append(make_row(task.kind, regime, activation, task.d, n, "theory",
                                     theory_risk(task, regime, n, activation)))
            rows.append(make_row(task.kind, regime, activation, task.d, n, "exact", seed=seed,
                                 **point(task, regime, W, activation)))
    return rows


def theory_curves(task, n_max: int, activation: str = "quadratic") -> dict:
    """Dense theory curves (every integer N up to n_max) for smooth lines."""
    ns = np.arange(1, n_max + 1)
    return {r: (ns, [theory_risk(task, r, int(n), activation) for n in ns]) for r in REGIMES}


@dataclass(frozen=True)
class Fig1SGD:
    """Figure 1's SGD runs: the paper's widths at d = 450 with the default steps and step
    size (docs/reproduction.md), or a small quick version."""

    widths: tuple
    curve_widths: tuple
    steps: int | None = None
    lr: float | None = None

    @classmethod
    def make(cls, quick: bool, d: int) -> "Fig1SGD":
        step = max(d // 15, 1)  # d = 450: the paper's grid 30, 60, ..., 450
        widths = tuple(range(step, d + 1, step))
        curves = tuple(widths[i] for i in (0, len(widths) // 3, 2 * len(widths) // 3, -1))
        if quick:
            return cls(widths=widths, curve_widths=curves, steps=4000, lr=0.005)
        return cls(widths=widths, curve_widths=curves)


def sgd_points(task, widths, seed: int, *, steps=None, lr=None, regime: str = "nn",
               activation: str = "quadratic", progress: bool = True, point=None):
    """SGD rows (kind 'sgd'), one network per width, trained on one shared sample stream.

    ``train_sweep`` gives, per width, the network ``train(task, regime, N, ...)``
    would give; ``lr`` may be one value or one per width (None: the default).
    ``point(task, result)`` adds columns to each row (e.g. a 0-1 error or the
    Monte-Carlo standard error).

    Returns
    -------
    rows : list of dict
    results : list of TrainResult, in the order of ``widths``
    """
    results = train_sweep(task, regime, list(widths), activation, steps=steps, lr=lr, seed=seed,
                          progress=progress)
    rows = [make_row(task.kind, regime, activation, task.d, n, "sgd", res.risk, seed=seed,
                     samples=res.samples, lr=res.settings["lr"], **(point(task, res) if point else {}))
            for n, res in zip(widths, results)]
    return rows, results


def fig1(out, quick: bool = False, seed: int = 0, progress: bool = True) -> list[Path]:
    """Figure 1: quadratic target, quadratic activation.

    Left, risk against N: lines are the asymptotic theory, open markers the
    exact population risk for one draw of W per N (RF, NT) and the rank-N
    optimum (NN), filled markers NN trained by one-pass SGD (N ≤ d, initial
    W the same draw). Right, the paper's right panel: SGD learning curves
    (risk against samples seen) for a few N, dashed at the theory values.
    The learning curves go to ``fig1_curves.csv``.
    """
    s = GridSettings.make(quick)
    task = QuadraticTarget.paper(d=s.d, seed=s.task_seed)
    rows = risk_points(task, s.n_grid, seed, progress=progress)
    sgd = Fig1SGD.make(quick, s.d)
    sgd_rows, results = sgd_points(task, sgd.widths, seed, steps=sgd.steps, lr=sgd.lr, progress=progress,
                                   point=lambda t, res: {"wall_time": res.wall_time})
    rows += sgd_rows
    curves = [{"regime": "nn", "n_neurons": n, "samples": res.history.samples, "risk": res.history.risk}
              for n, res in zip(sgd.widths, results) if n in sgd.curve_widths]
    out = Path(out)
    curve_rows = [make_row(task.kind, c["regime"], "quadratic", task.d, c["n_neurons"], "sgd", r,
                           seed=seed, samples=int(m))
                  for c in curves for m, r in zip(c["samples"], c["risk"])]
    paths = [write_csv(rows, out / "fig1.csv"), write_csv(curve_rows, out / "fig1_curves.csv")]
    theory = {(c["regime"], c["n_neurons"]): theory_risk(task, c["regime"], c["n_neurons"]) for c in curves}
    with paper_style():
        fig, (ax, ax_curves) = new_figure(ncols=2)
        plot_risk_vs_neurons(ax, rows, curves=theory_curves(task, max(s.n_grid)), d=s.d)
        ax.set_title(f"Quadratic target, σ(u) = u², d = {s.d}")
        plot_learning_curves(ax_curves, curves, theory)
        ax_curves.set_title(f"NN trained by one-pass SGD (batch 100), d = {s.d}")
        paths += save_figure(fig, out, "fig1")
    return paths


@dataclass(frozen=True)
class Fig2SGD:
    """One-pass SGD for the NN markers: widths trained together on one sample stream.

    ``lr`` holds one base step size per width.
    """

    widths: tuple
    steps: int
    lr: tuple

    @classmethod
    def make(cls, quick: bool) -> "Fig2SGD":
        if quick:
            widths = (4, 12, 24, 40, 60)
            return cls(widths=widths, steps=4000, lr=(0.01,) * len(widths))
        # measured on the mixture at d = 450 (docs/reproduction.md): wider networks need smaller
        # steps (label noise sets an SGD floor that grows with N); lr = 0.005 (30/N)^0.45 gives
        # 0.005 at N = 30, 0.0025 at N = 150 and 0.0015 at N = 450, which end within 3-7 % of the
        # rank-N optimum after 60k steps of 100 samples
        widths = (30, 90, 150, 300, 450)
        return cls(widths=widths, steps=60_000, lr=tuple(0.005 * (30 / n) ** 0.45 for n in widths))


def mixture_point(task: GaussianMixture, regime: str, W, activation: str) -> dict:
    """Exact row for the mixture: the best predictor's square risk and its 0-1 error."""
    M, c = best_predictor(task, regime, W)
    return {"risk": task.predictor_risk(M, c), "error": task.predictor_error(M, c)}


def fig2(out, quick: bool = False, seed: int = 0, progress: bool = True, sgd: bool = True) -> list[Path]:
    """Figure 2: Gaussian mixture, quadratic activation, risk against N.

    Left: square risk (R0 = 1); lines are the small-Δ theory, open markers
    the exact population risk for one draw of W per N, filled markers one-pass
    SGD on the NN (``sgd=False`` skips it: at d = 450 it takes most of the
    run), the dotted line the Bayes square risk. Right: the 0-1 error of the
    same fitted or trained predictors (sign of c + xᵀMx), with the Bayes 0-1
    error dotted. The CSV has an 'error' column and 'bayes' rows (one per N)
    holding both Bayes values.
    """
    from matplotlib.lines import Line2D

    s = GridSettings.make(quick, task_seed=0)
    task = GaussianMixture.paper(d=s.d, seed=s.task_seed)
    rows = risk_points(task, s.n_grid, seed, progress=progress, point=mixture_point)
    if sgd:
        runs = Fig2SGD.make(quick)
        rows += sgd_points(task, runs.widths, seed, steps=runs.steps, lr=list(runs.lr), progress=progress,
                           point=lambda t, res: {"error": t.predictor_error(*res.quadratic_form)})[0]
    bayes = {kind: bayes_risk(task, kind) for kind in ("square", "error")}
    rows += [make_row(task.kind, "bayes", "any", task.d, n, "exact", bayes["square"], error=bayes["error"])
             for n in s.n_grid]
    out = Path(out)
    paths = [write_csv(rows, out / "fig2.csv")]
    nets = [r for r in rows if r["regime"] != "bayes"]
    errors = [dict(r, risk=r["error"]) for r in nets if r["kind"] != "theory"]
    dotted = {"color": "0.2", "linestyle": ":", "linewidth": 1.2}
    legend = {"extra": [(Line2D([], [], **dotted), "Bayes")]}
    with paper_style():
        fig, (ax, ax_err) = new_figure(ncols=2)
        plot_risk_vs_neurons(ax, nets, curves=theory_curves(task, max(s.n_grid)), d=s.d, legend=legend)
        ax.axhline(bayes["square"], **dotted)
        ax.set_title(f"Gaussian mixture, d = {s.d}, $\\|\\Delta\\|_F^2 = {task.frob2:g}$: square loss")
        plot_risk_vs_neurons(ax_err, errors, d=s.d, ylabel="0-1 error P(sign f(x) ≠ y)", legend=legend)
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


@dataclass(frozen=True)
class Fig3Settings:
    """Figure 3's sizes: Figure 1's exact grid, a sparser grid of SGD widths, the SGD settings.

    The SGD settings (batch 100, the NN step-down schedule of :func:`train`)
    were measured for ReLU at d = 60 and 450 (docs/reproduction.md, Figure 3).
    """

    grid: GridSettings
    nn_grid: tuple
    steps: int
    lr: float

    @classmethod
    def make(cls, quick: bool) -> "Fig3Settings":
        grid = GridSettings.make(quick)
        # the exact grid's points nearest to these fractions of d, so NN and NT share their N
        fractions = (1 / 15, 1 / 5, 1 / 3, 1 / 2, 2 / 3, 1, 3 / 2, 2)
        widths = tuple(sorted({min(grid.n_grid, key=lambda n: abs(n - f * grid.d)) for f in fractions}))
        return cls(grid, widths, steps=10_000 if quick else 100_000, lr=1e-2)


def fig3(out, quick: bool = False, seed: int = 0, progress: bool = True) -> list[Path]:
    """Figure 3: quadratic target, ReLU activation, risk against N.

    The paper shows SGD only. Here RF and NT are the exact population risks
    of one draw of W per N on Figure 1's grid (N up to 2d; lines through the
    open markers), and NN is one-pass SGD (filled markers) on a sparser grid.
    """
    s = Fig3Settings.make(quick)
    d = s.grid.d
    task = QuadraticTarget.paper(d=d, seed=s.grid.task_seed)
    rows = risk_points(task, s.grid.n_grid, seed, activation="relu", regimes=("rf", "nt"),
                       progress=progress, theory=False)
    rows += sgd_points(task, s.nn_grid, seed, steps=s.steps, lr=s.lr, activation="relu", progress=progress,
                       point=lambda t, res: {"risk_se": res.risk_se, "steps": s.steps})[0]
    out = Path(out)
    paths = [write_csv(rows, out / "fig3.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=exact_curves(rows), d=d,
                             legend={"loc": "center right", "anchor": (1.0, 0.46)})  # between RF and NT
        ax.set_title(f"Quadratic target, ReLU, d = {d}")
        paths += save_figure(fig, out, "fig3")
    return paths


FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3}
