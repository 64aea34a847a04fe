"""The paper's figures: run the figure's preset spec, write the tidy CSV, draw the figure.

Each ``figK(out, quick=...)`` runs the preset ``figK`` through the
experiment machinery (:func:`lazytrain.experiments.run_spec`: points stored
in ``out/results.sqlite`` as they finish, so a second call only draws),
then writes ``figK.csv`` and ``figK.png``/``.pdf``. The CLI's
``lazytrain reproduce figK`` only calls these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .experiments import ResultStore, preset, run_spec, tidy_rows
from .figures import new_figure, paper_style, plot_risk_vs_neurons, save_figure
from .records import write_csv
from .theory import theory_risk

REGIMES = ("rf", "nt", "nn")


def run_rows(spec, out, progress: bool = True, **execution) -> list[dict]:
    """Run ``spec`` into ``out`` (resuming) and return the tidy rows of its points."""
    summary = run_spec(spec, out, progress=progress, **execution)
    with ResultStore.open(out) as store:
        return tidy_rows(store.records(summary.keys))


def theory_curves(task, n_max: int, activation: str = "quadratic") -> dict:
    """Dense theory curves (every integer N up to n_max) for smooth lines."""
    ns = np.arange(1, n_max + 1)
    return {r: (ns, [theory_risk(task, r, int(n), activation) for n in ns]) for r in REGIMES}


def fig1(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 1: quadratic target, quadratic activation, risk against N.

    Lines are the asymptotic theory, open markers the exact population risk
    for one draw of W per N (RF, NT) and the rank-N optimum (NN).

    ``execution`` (executor, workers, scheduler) goes to :func:`run_spec`.
    """
    spec = preset("fig1", quick=quick).with_updates(seeds=[seed])
    rows = run_rows(spec, out, progress=progress, **execution)
    task = spec.task.build()
    out = Path(out)
    paths = [write_csv(rows, out / "fig1.csv")]
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, curves=theory_curves(task, max(spec.neurons())), d=task.d)
        ax.set_title(f"Quadratic target, σ(u) = u², d = {task.d}")
        paths += save_figure(fig, out, "fig1")
    return paths


FIGURES = {"fig1": fig1}
