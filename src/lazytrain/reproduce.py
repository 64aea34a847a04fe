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
from .figures import legend_below, new_figure, paper_style, plot_risk_vs_neurons, save_figure
from .records import make_row, write_csv
from .tasks import GaussianMixture, QuadraticTarget
from .theory import theory_risk
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


def fig1(out, quick: bool = False, seed: int = 0, progress: bool = True) -> list[Path]:
    """Figure 1: quadratic target, quadratic activation, risk against N.

    Lines are the asymptotic theory, open markers the exact population risk
    for one draw of W per N (RF, NT) and the rank-N optimum (NN).
    """
    s = GridSettings.make(quick)
    task = QuadraticTarget.paper(d=s.d, seed=s.task_seed)
    rows = risk_points(task, s.n_grid, seed, progress=progress)
    out = Path(out)
    paths = [write_csv(rows, out / "fig1.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=theory_curves(task, max(s.n_grid)), d=s.d)
        ax.set_title(f"Quadratic target, σ(u) = u², d = {s.d}")
        paths += save_figure(fig, out, "fig1")
    return paths


@dataclass(frozen=True)
class SGDSettings:
    """One-pass SGD for the NN markers: widths trained together on one sample stream.

    ``lr`` holds one base step size per width.
    """

    widths: tuple
    steps: int
    lr: tuple

    @classmethod
    def make(cls, quick: bool) -> "SGDSettings":
        if quick:
            widths = (4, 12, 24, 40, 60)
            return cls(widths=widths, steps=4000, lr=(0.01,) * len(widths))
        # measured on the mixture at d = 450 (docs/reproduction.md): wider networks need smaller
        # steps (label noise sets an SGD floor that grows with N); lr = 0.005 (30/N)^0.45 gives
        # 0.005 at N = 30, 0.0025 at N = 150 and 0.0015 at N = 450, which end within 3-7 % of the
        # rank-N optimum after 60k steps of 100 samples
        widths = (30, 90, 150, 300, 450)
        return cls(widths=widths, steps=60_000, lr=tuple(0.005 * (30 / n) ** 0.45 for n in widths))


def sgd_points(task, settings: SGDSettings, seed: int, regime: str = "nn", activation: str = "quadratic",
               progress: bool = True, point=None) -> list[dict]:
    """SGD rows (kind 'sgd') for the widths of ``settings``, trained by :func:`train_sweep`.

    ``point(task, result)`` may add columns to each row (the mixture adds the
    trained predictor's 0-1 error).
    """
    from .train import train_sweep  # torch is needed only here

    results = train_sweep(task, regime, list(settings.widths), activation, steps=settings.steps,
                          lr=list(settings.lr), seed=seed, progress=progress)
    return [make_row(task.kind, regime, activation, task.d, n, "sgd", res.risk, seed=seed,
                     samples=res.samples, lr=res.settings["lr"], **(point(task, res) if point else {}))
            for n, res in zip(settings.widths, results)]


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
        rows += sgd_points(task, SGDSettings.make(quick), seed, progress=progress,
                           point=lambda t, res: {"error": t.predictor_error(*res.quadratic_form)})
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


def fig3(out, quick: bool = False, seed: int = 0, progress: bool = True) -> list[Path]:
    """Figure 3: quadratic target, ReLU activation, risk against N.

    The paper shows SGD only; here RF and NT are the exact population risks
    of one draw of W per N (lines through the open markers), on Figure 1's
    grid (N up to 2d).
    """
    s = GridSettings.make(quick)
    task = QuadraticTarget.paper(d=s.d, seed=s.task_seed)
    rows = risk_points(task, s.n_grid, seed, activation="relu", regimes=("rf", "nt"),
                       progress=progress, theory=False)
    out = Path(out)
    paths = [write_csv(rows, out / "fig3.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=exact_curves(rows), d=s.d,
                             legend={"loc": "center right", "anchor": (1.0, 0.55)})  # clear of NT
        ax.set_title(f"Quadratic target, ReLU, d = {s.d}")
        paths += save_figure(fig, out, "fig3")
    return paths


FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3}
