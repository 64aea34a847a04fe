"""The paper's figures: compute the points, write the tidy CSV, draw the figure.

Each ``figK(out, quick=...)`` returns the paths it wrote. The CLI's
``lazytrain reproduce figK`` only calls these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .exact import exact_risk
from .figures import add_legend, new_figure, paper_style, plot_risk_vs_neurons, save_figure
from .records import make_row, write_csv
from .tasks import QuadraticTarget
from .theory import theory_risk
from .weights import random_weights

REGIMES = ("rf", "nt", "nn")


@dataclass(frozen=True)
class Fig1Settings:
    """Figure 1's sizes: the paper's d = 450, or a small quick version."""

    d: int
    n_grid: tuple
    task_seed: int = 100

    @classmethod
    def make(cls, quick: bool) -> "Fig1Settings":
        if quick:
            d = 60
            return cls(d=d, n_grid=tuple(range(4, 2 * d + 1, 4)))
        d = 450
        # the paper's grid {30, ..., 450} and beyond d, up to 2d, to show the N >= d regime
        return cls(d=d, n_grid=tuple(range(30, 2 * d + 1, 30)))


def quadratic_points(task: QuadraticTarget, n_grid, seed: int, activation: str = "quadratic",
                     regimes=REGIMES, progress: bool = True, theory: bool = True) -> list[dict]:
    """Theory (unless ``theory=False``) and exact rows for the quadratic target over an N grid
    (one W per N)."""
    rows = []
    label = "quadratic"
    for n in tqdm(n_grid, desc="exact risks", unit="N", disable=not progress, leave=False):
        W = random_weights(task.d, n, seed=seed)
        for regime in regimes:
            if theory:
                rows.append(make_row(label, regime, activation, task.d, n, "theory",
                                     theory_risk(task, regime, n, activation)))
            rows.append(make_row(label, regime, activation, task.d, n, "exact",
                                 exact_risk(task, regime, W, activation), seed=seed))
    return rows


def theory_curves(task: QuadraticTarget, n_max: int, activation: str = "quadratic") -> dict:
    """Dense theory curves (every integer N up to n_max) for smooth lines."""
    ns = np.arange(1, n_max + 1)
    return {r: (ns, [theory_risk(task, r, int(n), activation) for n in ns]) for r in REGIMES}


def fig1(out, quick: bool = False, seed: int = 0, progress: bool = True) -> list[Path]:
    """Figure 1: quadratic target, quadratic activation, risk against N.

    Lines are the asymptotic theory, open markers the exact population risk
    for one draw of W per N (RF, NT) and the rank-N optimum (NN).
    """
    s = Fig1Settings.make(quick)
    task = QuadraticTarget.paper(d=s.d, seed=s.task_seed)
    rows = quadratic_points(task, s.n_grid, seed, progress=progress)
    out = Path(out)
    paths = [write_csv(rows, out / "fig1.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=theory_curves(task, max(s.n_grid)), d=s.d)
        ax.set_title(f"Quadratic target, σ(u) = u², d = {s.d}")
        paths += save_figure(fig, out, "fig1")
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
    s = Fig1Settings.make(quick)
    task = QuadraticTarget.paper(d=s.d, seed=s.task_seed)
    rows = quadratic_points(task, s.n_grid, seed, activation="relu", regimes=("rf", "nt"),
                            progress=progress, theory=False)
    out = Path(out)
    paths = [write_csv(rows, out / "fig3.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=exact_curves(rows), d=s.d)
        add_legend(ax, rows, loc="center right", anchor=(1.0, 0.55))  # clear of the NT line
        ax.set_title(f"Quadratic target, ReLU, d = {s.d}")
        paths += save_figure(fig, out, "fig3")
    return paths


FIGURES = {"fig1": fig1, "fig3": fig3}
