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

from .activations import get_activation
from .bayes import bayes_risk
from .exact import exact_risk
from .experiments import ResultStore, preset, run_spec, tidy_rows
from .experiments.catalog import FIGURE_PRESETS  # the presets each figure runs (the CLI lists them)
from .experiments.presets import FIG5_ALPHAS, STAIRCASE_RHOS, alpha_sweep, staircase_specs
from .figures import (REGIME_STYLE, legend_below, new_figure, paper_style, plot_learning_curves,
                      plot_risk_vs_alpha, plot_risk_vs_neurons, plot_weight_change_vs_alpha,
                      save_figure)
from .records import make_row, write_csv
from .regimes import REGIMES
from .theory import theory_risk
from .theory.hermite import degree_theory
from .weights import random_weights



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
    """The preset of a figure with its seeds shifted by ``seed`` (a one-seed preset: [seed])."""
    spec = preset(name, quick=quick)
    return spec.with_updates(seeds=[seed + s for s in spec.seeds])




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
    computed here rather than stored as points). Where the exact NN risk
    levels off away from the theory (the quick d = 60: 0.368 against 0.333),
    the figure says that this is finite d.
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
        _finite_d_note(ax, nets, task, max(grid))
        ax.set_title(f"Gaussian mixture, d = {task.d}, $\\|\\Delta\\|_F^2 = {task.frob2:g}$: square loss")
        plot_risk_vs_neurons(ax_err, errors, d=task.d, ylabel="0-1 error P(sign f(x) ≠ y)",
                             legend=legend)
        ax_err.axhline(bayes["error"], **dotted)
        ax_err.set_ylim(-0.01, 0.52)
        ax_err.set_title("0-1 error of the same fitted predictors")
        legend_below(fig, ax, others=[ax_err])
        paths += save_figure(fig, out, "fig2")
    return paths


def _finite_d_note(ax, rows, task, n_max) -> None:
    """Say on the figure when the exact NN risk levels off away from the d → ∞ theory (finite d)."""
    exact = [r["risk"] for r in rows if r["regime"] == "nn" and r["kind"] == "exact"
             and r["n_neurons"] == n_max]
    if not exact:
        return
    theory = theory_risk(task, "nn", n_max)
    if abs(exact[0] - theory) > 0.01:
        from matplotlib.transforms import blended_transform_factory

        # one line between the Bayes risk and the plateau, clear of the markers
        ax.text(0.98, 0.26,
                f"finite d = {task.d}: exact NN {exact[0]:.3f}, theory (d → ∞) {theory:.3f}",
                transform=blended_transform_factory(ax.transAxes, ax.transData),
                ha="right", va="center", fontsize=6.5, color="0.3")


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


def _fit_stats(rows, regime, ridge, x_of):
    """(x, mean, standard error, count) over seeds of the fit rows of a regime and ridge setting."""
    groups: dict = {}
    for r in rows:
        if r["kind"] == "fit" and r["regime"] == regime and str(r["ridge_setting"]) == str(ridge):
            groups.setdefault(x_of(r), []).append(float(r["risk"]))
    out = []
    for x, v in sorted(groups.items()):
        v = np.asarray(v)
        se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
        out.append((x, float(v.mean()), se, v.size))
    return out


def _draw_fits(ax, rows, regime, x_of, label, ridges=(1e-8, "tuned")):
    from .figures import REGIME_STYLE

    style = REGIME_STYLE[regime]
    for ridge in ridges:
        stats = _fit_stats(rows, regime, ridge, x_of)
        if not stats:
            continue
        x, m, se, _ = (np.array(c) for c in zip(*stats))
        tuned = ridge == "tuned"
        name = "tuned λ" if tuned else f"λ = {ridge:g}"
        ax.errorbar(x, m, yerr=se, color=style["color"], marker=style["marker"], markersize=3.2,
                    linewidth=1.1 if tuned else 0.9, linestyle="-" if tuned else ":", capsize=1.5,
                    markerfacecolor=style["color"] if tuned else "white", label=f"{label}, {name}")


def fig6(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 6 (not in the paper): finite samples, double descent, ReLU.

    Left, the paper's quadratic target, risk against parameters/n at fixed n:
    RF (P = N) and NT (P = N·d) fitted on n samples with λ = 1e-8 (dotted,
    open markers) and an oracle-tuned λ (solid), mean ± standard error over
    seeds; the interpolation peak at P = n; dashed horizontal lines: the
    kernel limits N → ∞ (tuned λ); thin lines: ``exact_risk`` (infinite
    data, seed-0 weights), the floor. Middle, the same against n at fixed N.
    Right, a traceless target (τ = 0), where the Mei-Montanari formula
    (lines) applies: RF against N/n.
    """
    from .exact import exact_risk
    from .figures import REGIME_STYLE
    from .weights import random_weights

    specs = figure_specs("fig6", quick, seed)
    rows = [run_rows(s, out, progress=progress, **execution) for s in specs]
    out = Path(out)
    paths = [write_csv([r for part in rows for r in part], out / "fig6.csv")]
    spec_n, spec_s, spec_t = specs
    task, task_t = spec_n.task.build(), spec_t.task.build()
    d, n = task.d, spec_n.fit.n_samples[0]
    params = {"rf": lambda r: int(r["n_neurons"]) / n, "nt": lambda r: int(r["n_neurons"]) * d / n}
    with paper_style():
        fig, (ax, ax_n, ax_t) = new_figure(ncols=3, height=3.0)
        # (a) against parameters / n
        for regime in ("rf", "nt"):
            _draw_fits(ax, rows[0], regime, params[regime], REGIME_STYLE[regime]["label"])
            ns = spec_n.fit_neurons(regime)
            floor = [exact_risk(task, regime, random_weights(d, N, seed=seed), "relu") for N in ns]
            scale = 1 if regime == "rf" else d
            ax.plot(np.array(ns) * scale / n, floor, color=REGIME_STYLE[regime]["color"],
                    linewidth=0.7, alpha=0.8)
            kern = _fit_stats(rows[0], f"{regime}_kernel", "tuned", lambda r: 0)
            if kern:
                ax.axhline(kern[0][1], color=REGIME_STYLE[regime]["color"], linestyle="--",
                           linewidth=0.9, label=f"{REGIME_STYLE[regime]['label']} kernel (N = ∞), tuned λ")
        ax.axvline(1.0, color="0.5", linewidth=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters / n   (RF: N/n, NT: N·d/n)")
        ax.set_ylabel("population risk R / R0")
        ax.set_title(f"Paper target, ReLU, d = {d}, n = {n}\n(thin lines: exact_risk, n = ∞)")
        # (b) against n at fixed N
        for regime in ("rf", "nt"):
            N = spec_s.fit_neurons(regime)[0]
            _draw_fits(ax_n, rows[1], regime, lambda r: int(r["n_samples"]),
                       f"{REGIME_STYLE[regime]['label']} N = {N}")
            ax_n.axhline(exact_risk(task, regime, random_weights(d, N, seed=seed), "relu"),
                         color=REGIME_STYLE[regime]["color"], linewidth=0.7, alpha=0.8)
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        n_peak = spec_s.fit_neurons("rf")[0]
        ax_n.axvline(n_peak, color="0.5", linewidth=0.6)
        ax_n.set_xscale("log")
        ns = spec_s.fit.n_samples
        ax_n.set_xticks([ns[0], n_peak, ns[-1]])
        ax_n.xaxis.set_major_formatter(ScalarFormatter())
        ax_n.xaxis.set_minor_formatter(NullFormatter())
        ax_n.set_yscale("log")
        ax_n.set_xlabel("samples n")
        ax_n.set_ylabel("population risk R / R0")
        ax_n.set_title(f"Against n at fixed N (peak at n = {n_peak})\n"
                       f"RF N = {spec_s.fit_neurons('rf')[0]}, NT N = {spec_s.fit_neurons('nt')[0]}")
        ax_n.legend(frameon=False, fontsize=6)
        # (c) traceless target: theory
        dt, nt_ = task_t.d, spec_t.fit.n_samples[0]
        ridges = spec_t.fit.ridges
        _draw_fits(ax_t, rows[2], "rf", lambda r: int(r["n_neurons"]) / nt_, "RF fit", ridges=ridges)
        grid = np.unique(np.round(np.geomspace(0.1 * nt_, max(spec_t.neurons()), 240)).astype(int))
        for ridge, ls in zip(ridges, ("-", "--")):
            th = [theory_risk(task_t, "rf", int(N), "relu", n_samples=nt_, ridge=ridge) for N in grid]
            ax_t.plot(grid / nt_, th, color="k", linewidth=0.9, linestyle=ls,
                      label=f"Mei-Montanari, λ = {ridge:g}")
        ax_t.axvline(1.0, color="0.5", linewidth=0.6)
        ax_t.set_xscale("log")
        ax_t.set_yscale("log")
        ax_t.set_xlabel("N / n")
        ax_t.set_ylabel("population risk R / R0")
        ax_t.set_title(f"Traceless target (τ = 0), ReLU, d = {dt}, n = {nt_}\n(the theory applies)")
        ax_t.legend(frameon=False, fontsize=6)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False, fontsize=6.5)
        paths += save_figure(fig, out, "fig6")
    return paths


def staircase_theory(task, activation: str, n_values, finite_d: bool = False) -> dict:
    """Theory per degree (N = O(d)) along ``n_values``: regime -> (N, R/R0) for RF and NT.

    ``finite_d=True``: NT only, with the first-order finite-d capture of degree 3.
    """
    act = get_activation(activation)
    regimes = ("nt",) if finite_d else ("rf", "nt")
    return {r: (list(n_values), [degree_theory(task, r, int(n), act, finite_d=finite_d)["risk"]
                                 for n in n_values]) for r in regimes}


def _staircase_panel(ax, rows, curves, finite, d, n_max):
    """Figure 4, left: risk against N on a log axis, with the scales of the staircase marked."""
    from math import comb

    from matplotlib.lines import Line2D

    dashed = {"color": REGIME_STYLE["nt"]["color"], "linestyle": "--", "linewidth": 1.1}
    plot_risk_vs_neurons(ax, rows, curves=curves, d=None,
                         legend={"loc": "lower left", "anchor": (0.0, 0.0),
                                 "extra": [(Line2D([], [], **dashed), "NT theory, finite d")]})
    ax.plot(*finite["nt"], **dashed)
    ax.set_xscale("log")
    ax.set_xlim(0.07 * d, 1.4 * n_max)
    scales = [(d, "N = d"), (d * (d + 1) / 2, "N = d(d+1)/2"), (comb(d + 2, 3) / d, "Nd = C(d+2, 3)")]
    for x, label in scales:
        ax.axvline(x, color="0.5", linestyle=":", linewidth=1.0)
        ax.text(x * 1.05, 0.2, label, color="0.35", fontsize=6.5, va="bottom", ha="left", rotation=90,
                transform=ax.get_xaxis_transform())
    ax.axhline(0.5, color="0.6", linestyle="--", linewidth=0.8)
    # at the left end, clear of the verticals' labels (the legend goes below the figure)
    ax.text(0.075 * d, 0.515, "degree-3 share", color="0.4", fontsize=6.5, va="bottom")


def fig4(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 4 (beyond the paper): the staircase, a degree-2 + degree-3 ridge target.

    Target: k = 4 orthonormal directions, f* = Σ_j (h₂ + h₃)(⟨u_j, x⟩)/√(2k) (half of R0
    in degree 2, half in degree 3), activation σ = h₂ + h₃ ('hermite23'). Left, at
    d = 40 (quick: 20): risk against N on a log axis from 0.1·d to 1.5·d²/2; lines the
    theory per degree in its domain N = O(d) (up to 4d), open markers the exact RF and
    NT risks (one draw of W per N), filled markers NN trained by one-pass SGD; dotted
    verticals at the scales where the steps happen (NT degree 2 at N = d, RF degree 2
    at N = d(d+1)/2, NT degree 3 at N·d = C(d+2, 3)). Right: the risk exact NT leaves in
    degree 3 at N = ρd (ρ = 1, 2) against d, mean ± sd over five draws of W (dots: the
    draws), with the d → ∞ theory (dashed), the first-order finite-d theory (solid, also
    dashed on the left for NT) and the degree-3 share (grey). CSVs: ``fig4.csv`` (left,
    with per-degree columns risk_deg1..3 on the exact and theory rows; theory rows have
    ``variant`` 'limit' or 'finite_d') and ``fig4_right.csv``.
    """
    spec = figure_spec("fig4", quick, seed)
    task = spec.task.build()
    d = task.d
    activation = spec.activations[0]
    subs = staircase_specs(quick)
    run_spec([spec, *subs], out, progress=progress, **execution)  # one sweep: the points share the workers
    rows = run_rows(spec, out, progress=False, **execution)
    right = [row for sub in subs for row in run_rows(sub, out, progress=False, **execution)]
    n_theory = sorted({int(n) for n in np.unique(np.round(np.geomspace(max(1, 0.1 * d), 4 * d, 40)))})
    curves = staircase_theory(task, activation, n_theory)
    finite = staircase_theory(task, activation, n_theory, finite_d=True)
    act = get_activation(activation)
    theory_rows = []
    for regime, variant in (("rf", "limit"), ("nt", "limit"), ("nt", "finite_d")):
        for n in n_theory:
            th = degree_theory(task, regime, n, act, finite_d=variant == "finite_d")
            theory_rows.append(make_row(task.kind, regime, activation, d, n, "theory", th["risk"], variant=variant,
                                        **{f"risk_deg{ell}": v for ell, v in th["by_degree"].items()}))
    out = Path(out)
    paths = [write_csv(theory_rows + rows, out / "fig4.csv"), write_csv(right, out / "fig4_right.csv")]
    ds = [sub.task.d for sub in subs]
    dense = list(range(ds[0], ds[-1] + 1, 2))
    base = spec.task.model_dump(mode="json")
    degree3 = {}  # (variant, rho) -> (d values, degree-3 risk)
    for variant in ("limit", "finite_d"):
        for rho in STAIRCASE_RHOS:
            xs = ds if variant == "limit" else dense
            ys = [degree_theory(spec.with_updates(task={**base, "d": x}).task.build(), "nt", rho * x, act,
                                finite_d=variant == "finite_d")["by_degree"][3] for x in xs]
            degree3[variant, rho] = (xs, ys)
    with paper_style():
        # wider than a column: the left title is long, and at 3.4 in per panel the right panel's
        # y label ran into it
        fig, (ax, ax_d) = new_figure(ncols=2, width_per_panel=3.9, height=3.0)
        _staircase_panel(ax, rows + theory_rows, curves, finite, d, max(spec.neurons()))
        ax.set_title(f"Degree-2 + degree-3 ridge target (k = 4), σ = h₂ + h₃\n"
                     f"d = {d}: theory for N = O(d), exact RF/NT, NN by SGD")
        plot_degree3_against_d(ax_d, right, degree3, STAIRCASE_RHOS)
        legend_below(fig, ax)  # beside the data it hid the NN points (quick: 0.23 at N = 4)
        paths += save_figure(fig, out, "fig4")
    return paths


def plot_degree3_against_d(ax, rows, theory, rhos):
    """Figure 4, right: NT's degree-3 risk at N = ρd against d (mean ± sd over draws, draws as dots).

    ``theory`` maps (variant, ρ) to (d values, degree-3 risk), variant 'limit' (d → ∞, dashed)
    or 'finite_d' (first-order finite-d formula, solid).
    """
    markers = {rhos[0]: "s", rhos[-1]: "D"}
    shades = {rhos[0]: REGIME_STYLE["nt"]["color"], rhos[-1]: "#a04000"}
    for rho in rhos:
        pts = {}
        for r in rows:
            if r["kind"] == "exact" and r["regime"] == "nt" and int(r["n_neurons"]) == rho * int(r["d"]):
                pts.setdefault(int(r["d"]), []).append(float(r["risk_deg3"]))
        xs = sorted(pts)
        if not xs:
            continue
        mean = [float(np.mean(pts[x])) for x in xs]
        sd = [float(np.std(pts[x], ddof=1)) if len(pts[x]) > 1 else 0.0 for x in xs]
        colour = shades[rho]
        for x in xs:
            ax.plot([x] * len(pts[x]), pts[x], linestyle="none", marker=".", markersize=2.5, color=colour,
                    alpha=0.35)
        ax.errorbar(xs, mean, yerr=sd, linestyle="-", linewidth=0.8, marker=markers[rho], markersize=4.5,
                    markerfacecolor="white", color=colour, capsize=2,
                    label=f"exact NT, N = {'' if rho == 1 else rho}d (mean ± sd, {max(len(v) for v in pts.values())} draws)")
        name = f"N = {'' if rho == 1 else rho}d"
        # the two d → ∞ lines may coincide: interleaved dashes keep both visible
        dashes = (0, (3, 3)) if rho == rhos[0] else (3, (3, 3))
        ax.plot(*theory["limit", rho], linestyle=dashes, color=colour, linewidth=1.0,
                label=f"theory d → ∞, {name}")
        if ("finite_d", rho) in theory:
            ax.plot(*theory["finite_d", rho], linestyle="-", color=colour, linewidth=1.6, alpha=0.45,
                    label=f"theory finite d, {name}")
    ax.axhline(0.5, color="0.6", linestyle="--", linewidth=0.8, label="degree-3 share ‖P₃f*‖²/R0")
    ax.set_xlabel("dimension d")
    ax.set_ylabel("risk left in degree 3\n‖P₃(f* − f̂)‖² / R0")
    ax.set_ylim(0.0, 0.92)
    ax.grid(True, alpha=0.25, linewidth=0.6)
    ax.legend(loc="upper center", ncols=2, frameon=False, fontsize=6, columnspacing=1.0, handlelength=1.8)
    ax.set_title("Risk NT leaves in degree 3 at fixed ρ = N/d\n(exact, against the dimension)")


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
    return alpha_sweep(base, alphas)


def figure_specs(name: str, quick: bool, seed: int) -> list:
    """Every spec a figure runs: one per α for Figure 5, the presets of
    :data:`FIGURE_PRESETS` for a figure of several panels (Figure 6), else the figure's preset."""
    if name == "fig5":
        return fig5_specs(quick, seed)
    if name == "fig8":
        return fig8_figure_specs(quick, seed)
    return [figure_spec(p, quick, seed) for p in FIGURE_PRESETS.get(name, (name,))]


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
    CSV and figure are named after the base spec, quick or not, as the other
    figures (``fig5``, ``fig5-mixture``, ``fig5-relu``, ...).
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
    stem = spec.name.rsplit("-alpha", 1)[0].replace("-quick", "")  # fig5, fig5-mixture, fig5-relu, ...
    paths = [write_csv(rows, out / f"{stem}.csv")]
    alphas = np.array([r["alpha"] for r in sgd])
    with paper_style():
        fig, (ax, ax_w) = new_figure(ncols=2)
        plot_risk_vs_alpha(ax, alphas, np.array([r["risk"] for r in sgd]), n, lazy_limit,
                           nn[0] if nn else None)
        what = "quadratic target" if built.kind == "quadratic" else "Gaussian mixture"
        sigma = "σ(u) = u²" if act == "quadratic" else f"σ = {act}"
        ax.set_title(f"{what}, {sigma}, d = {d}, N = {n}")
        plot_weight_change_vs_alpha(ax_w, alphas, [r["weight_change"] for r in sgd])
        paths += save_figure(fig, out, stem)
    return paths


# ---------------------------------------------------------------- Figure 8: spiked covariates (issue 20)
def fig8_figure_specs(quick: bool = False, seed: int = 0) -> list:
    """Every spec Figure 8 runs (:func:`lazytrain.experiments.presets.fig8_specs`), seeds shifted by ``seed``."""
    from .experiments.presets import preset_specs

    specs = preset_specs("fig8", quick)
    return [s.with_updates(seeds=[seed + k for k in s.seeds]) for s in specs]


def _fig8_rows(specs, out, kappa_of, execution) -> list[dict]:
    rows = []
    for spec in specs:
        rows += [dict(r, kappa=kappa_of[spec.name]) for r in run_rows(spec, out, progress=False, **execution)]
    return rows


def _fig8_left(ax, rows, widths, d):
    """Risk against κ: exact RF/NT (ReLU solid, σ = u² dashed; N₁ circles, N₂ squares), NN by SGD."""
    from matplotlib.lines import Line2D

    markers = dict(zip(widths, ("o", "s")))
    for regime in ("rf", "nt"):
        for act, ls in (("relu", "-"), ("quadratic", "--")):
            for n in widths:
                pts = sorted((r["kappa"], r["risk"]) for r in rows if r["kind"] == "exact"
                             and r["regime"] == regime and r["activation"] == act and r["n_neurons"] == n)
                if pts:
                    ax.plot(*zip(*pts), color=REGIME_STYLE[regime]["color"], linestyle=ls, linewidth=1.1,
                            marker=markers[n], markersize=3.2,
                            markerfacecolor="white" if n == widths[0] else REGIME_STYLE[regime]["color"])
    nn = sorted((r["kappa"], r["risk"]) for r in rows if r["kind"] == "sgd" and r["regime"] == "nn")
    if nn:
        ax.plot(*zip(*nn), color=REGIME_STYLE["nn"]["color"], marker="^", markersize=4.5, linewidth=1.1)
    opt = sorted((r["kappa"], r["risk"]) for r in rows if r["kind"] == "exact" and r["regime"] == "nn"
                 and r["n_neurons"] == widths[0])
    if opt:
        ax.plot(*zip(*opt), color=REGIME_STYLE["nn"]["color"], linestyle=":", linewidth=1.0)
    style = {"color": "0.3", "markersize": 3.5}
    handles = [
        (Line2D([], [], color=REGIME_STYLE["rf"]["color"]), "RF (exact)"),
        (Line2D([], [], color=REGIME_STYLE["nt"]["color"]), "NT (exact)"),
        (Line2D([], [], color=REGIME_STYLE["nn"]["color"], marker="^"), f"NN, SGD, N = {widths[0]}"),
        (Line2D([], [], color=REGIME_STYLE["nn"]["color"], linestyle=":"), f"NN optimum, N = {widths[0]}"),
        (Line2D([], [], linestyle="-", **{k: v for k, v in style.items() if k == "color"}), "ReLU"),
        (Line2D([], [], linestyle="--", **{k: v for k, v in style.items() if k == "color"}), "σ = u²"),
        (Line2D([], [], linestyle="none", marker="o", markerfacecolor="white", **style), f"N = {widths[0]}"),
        (Line2D([], [], linestyle="none", marker="s", **style), f"N = {widths[1]}"),
    ]
    ax.legend(*zip(*handles), loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=4, frameon=False,
              fontsize=6.2, columnspacing=0.8)
    ax.set_xlabel("κ (signal variance d^κ)")
    ax.set_ylabel("population risk R / R0")
    ax.set_ylim(-0.02, 1.04)
    ax.grid(True, alpha=0.25, linewidth=0.6)


def _fig8_right(ax, rows, tasks):
    """Risk against N at two κ (σ = u²): exact markers, theory lines, d_eff and d_eff² marked."""
    from matplotlib.lines import Line2D

    from .theory.spiked import theory as spiked_theory

    act = get_activation("quadratic")
    kappas = sorted(tasks)
    lines = dict(zip(kappas, ("-", "--")))
    marks = dict(zip(kappas, ("o", "D")))
    for kappa in kappas:
        task = tasks[kappa]
        for regime in ("rf", "nt"):
            colour = REGIME_STYLE[regime]["color"]
            pts = sorted((r["n_neurons"], r["risk"]) for r in rows if r["kind"] == "exact"
                         and r["regime"] == regime and r["kappa"] == kappa)
            ax.plot(*zip(*pts), linestyle="none", marker=marks[kappa], markersize=3.2, color=colour,
                    markerfacecolor="white")
            ns = np.unique(np.geomspace(task.signal_dim + 1, 2 * task.d, 200).astype(int))
            th = [(n, spiked_theory(task, regime, int(n), act)) for n in ns]
            ax.plot(*zip(*th), color=colour, linestyle=lines[kappa], linewidth=1.0)
        deff = task.effective_dimension
        for x, text in ((deff, "d_eff"), (deff**2, "d_eff²")):
            if x <= 2 * task.d:
                ax.axvline(x, color="0.45", linestyle=lines[kappa], linewidth=0.7)
                ax.text(x * 1.04, 0.97, f"{text} (κ = {kappa:g})", rotation=90, va="top", ha="left",
                        fontsize=5.8, color="0.35", transform=ax.get_xaxis_transform())
    handles = [(Line2D([], [], color=REGIME_STYLE[r]["color"]), f"{REGIME_STYLE[r]['label']}") for r in ("rf", "nt")]
    handles += [(Line2D([], [], color="0.3", linestyle=lines[k], marker=marks[k], markerfacecolor="white",
                        markersize=3.2), f"κ = {k:g}: exact (markers), theory (line)") for k in kappas]
    ax.legend(*zip(*handles), loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False,
              fontsize=6.2)
    ax.set_xscale("log")
    ax.set_xlabel("N (neurons)")
    ax.set_ylabel("population risk R / R0")
    ax.set_ylim(-0.02, 1.04)
    ax.grid(True, alpha=0.25, linewidth=0.6)


def fig8(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 8 (the sequel, arXiv:2006.13409): spiked covariates, when do networks beat kernels?

    Inputs x ~ N(0, Σ), the first d_s = ⌊d^0.4⌋ coordinates with variance d^κ, the others 1; the
    authors' quadratic target on the standardised signal coordinates (d = 1024, d_s = 16; quick:
    d = 80, d_s = 5). Left: risk against κ, exact RF and NT for ReLU and σ = u² at N₁ = 4 d_s and
    N₂ = d/2 (one draw of W each), the NN trained by one-pass SGD at N₁ (σ = u², exact risk) and
    its optimum (Eckart-Young: 0 for N ≥ d_s at every κ). Right: at κ = 0 and 0.6, risk against
    N (σ = u²), exact points and theory lines (docs/theory.md, "Spiked covariates"), the sequel's
    d_eff = max(d_s, d^(1−κ)) and d_eff² marked (NT fits the degree-2 target once N ≫ d_eff, RF
    once N ≫ d_eff²). CSV: ``fig8.csv`` (a ``kappa`` column, ``panel`` left/right).
    """
    from .experiments.presets import fig8_specs

    parts = fig8_specs(quick)
    specs = fig8_figure_specs(quick, seed)
    kappa_of = {s.name: k for k, quad, relu in parts["left"] for s in (quad, relu)}
    kappa_of.update({s.name: k for k, s in parts["right"]})
    run_spec(specs, out, progress=progress, **execution)  # one sweep: the points share the workers
    n_left = 2 * len(parts["left"])
    left = [dict(r, panel="left") for r in _fig8_rows(specs[:n_left], out, kappa_of, execution)]
    right = [dict(r, panel="right") for r in _fig8_rows(specs[n_left:], out, kappa_of, execution)]
    out = Path(out)
    paths = [write_csv(left + right, out / "fig8.csv")]
    tasks = {k: s.task.build() for k, s in parts["right"]}
    d, s_dim, widths = parts["left"][0][1].d, next(iter(tasks.values())).signal_dim, parts["left"][0][1].neurons()
    with paper_style():
        fig, (ax, ax_n) = new_figure(ncols=2, width_per_panel=4.0, height=3.6)
        _fig8_left(ax, left, widths, d)
        ax.set_title(f"Spiked covariates, d = {d}, d_s = {s_dim}: risk against κ\n"
                     "RF/NT exact; NN by one-pass SGD (σ = u²)")
        _fig8_right(ax_n, right, tasks)
        ax_n.set_title(f"σ = u², risk against N at κ = {', '.join(f'{k:g}' for k in sorted(tasks))};\n"
                       "d_eff = max(d_s, d^(1−κ)) (the sequel's effective dimension)")
        paths += save_figure(fig, out, "fig8")
    return paths


FIGURES = {"fig1": fig1, "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6}


def one_step_theory_rows(task, activation: str, n_neurons: int, n0: int, etas, seeds) -> list[dict]:
    """The theory beside the simulated steps (``kind`` 'theory', regime 'one-step'), per η.

    ``variant`` 'srf': the exact risk of the spiked-RF equivalent at W0 = ``random_weights(d, N,
    seed)`` (one row per seed, :func:`lazytrain.theory.one_step.spiked_rf_weights`); 'small_step':
    the η = Θ(1) formula (one row per η). Both carry the BBP alignment.
    """
    from .theory.one_step import small_step_risk, spike_theory, spiked_rf_weights

    d = task.d
    rows = []
    for s in seeds:
        W0 = random_weights(d, n_neurons, seed=s)
        for eta in etas:
            eta = float(eta)
            srf = exact_risk(task, "rf", spiked_rf_weights(task, activation, W0, eta, n0, seed=s), activation)
            rows.append(make_row(task.kind, "one-step", activation, d, n_neurons, "theory", srf, seed=s,
                                 variant="srf", lr=eta, n_samples=n0,
                                 alignment=spike_theory(task, activation, n_neurons, eta, n0)["alignment"]))
    for eta in etas:  # the η = Θ(1) formula depends on no draw
        eta = float(eta)
        rows.append(make_row(task.kind, "one-step", activation, d, n_neurons, "theory",
                             small_step_risk(task, activation, n_neurons, eta, n0), variant="small_step",
                             lr=eta, n_samples=n0,
                             alignment=spike_theory(task, activation, n_neurons, eta, n0)["alignment"]))
    return rows


def _by_eta(rows, kind, variant=None, key="risk"):
    """(η, mean, sd) of ``key`` over the seeds, for the one-step rows of a kind (and variant)."""
    pts = {}
    for r in rows:
        if r["regime"] == "one-step" and r["kind"] == kind and r.get("variant") == variant:
            pts.setdefault(r["lr"], []).append(r[key])
    xs = sorted(pts)
    return (np.array(xs), np.array([np.mean(pts[x]) for x in xs]),
            np.array([np.std(pts[x], ddof=1) if len(pts[x]) > 1 else 0.0 for x in xs]))


def fig7(out, quick: bool = False, seed: int = 0, progress: bool = True, **execution) -> list[Path]:
    """Figure 7 (beyond the paper): one giant gradient step, between RF and NN (issue 18).

    Target: f* = He₁(⟨u, x⟩) + He₂(⟨u, x⟩)/√2 (half of R0 linear, half quadratic), σ = ReLU,
    d = 400 (quick: 100), N = d, one step of the first layer on n0 = 4d fresh samples with
    the second layer at a_i = ±1/√N (:func:`lazytrain.one_step`), then the best second layer
    (``exact_risk(task, 'rf', W1)``). Left: the risk against η (log axis; Ba et al.'s
    normalisation, η = Θ(√N) is the giant step), mean ± sd over draws (full: 3, quick: 1),
    with the spiked-RF equivalent (Cui et al.; its exact risk), the η = Θ(1) formula, and as
    lines exact RF (η = 0) and NT at W0, the kernel limit (RF theory as N/d → ∞: the linear
    part only) and the NN trained by one-pass SGD. Right: |⟨v₁, u⟩| for v₁ W1's top right
    singular vector, simulation against the BBP theory. CSV: ``fig7.csv`` (``fig7-quick``).

    The simulated steps are the preset ``fig7-steps`` (regime 'one-step', stored with the
    reference points in ``out/results.sqlite``: a second call recomputes only the theory).
    """
    spec, steps = figure_specs("fig7", quick, seed)
    run_spec([spec, steps], out, progress=progress, **execution)  # one sweep: the points share the workers
    ref = run_rows(spec, out, progress=False, **execution)
    sims = run_rows(steps, out, progress=False, **execution)
    task = spec.task.build()
    act = spec.activations[0]
    d = task.d
    (n,) = spec.neurons()
    n0 = steps.one_step.options(d, 0.0)["n_samples"]
    rows = sims + one_step_theory_rows(task, act, n, n0, steps.one_step.lr, steps.seeds)
    kernel = theory_risk(task, "rf", 10**4 * d, act)
    rows.append(make_row(task.kind, "rf", act, d, 10**4 * d, "theory", kernel, variant="kernel_limit"))
    out = Path(out)
    return [write_csv(ref + rows, out / f"{spec.name}.csv")] + draw_fig7(out, spec.name, task, act, ref + rows,
                                                                        seed)


def draw_fig7(out, name, task, act, rows, seed=0) -> list[Path]:
    """Draw Figure 7 from its rows (those of ``fig7.csv``); returns the PNG and PDF paths."""
    from .theory.one_step import spike_theory

    ref = [r for r in rows if r["regime"] != "one-step" and r.get("variant") != "kernel_limit"]
    (kernel,) = [r["risk"] for r in rows if r.get("variant") == "kernel_limit"]
    steps = [r for r in rows if r["regime"] == "one-step"]
    rows = steps
    d = task.d
    n = int(steps[0]["n_neurons"])
    n0 = int(steps[0]["n_samples"])
    seeds = sorted({r["seed"] for r in steps if r["kind"] == "exact"})
    etas = np.array(sorted({r["lr"] for r in steps}))

    def ref_mean(regime, kind):
        vals = [r["risk"] for r in ref if r["regime"] == regime and r["kind"] == kind and r["seed"] == seed]
        return vals[0] if vals else None

    dense = np.geomspace(etas[0] / 2, etas[-1] * 2, 200)
    with paper_style():
        fig, (ax, ax_a) = new_figure(ncols=2, height=3.0)
        lines = [(ref_mean("rf", "exact"), "RF (η = 0), exact", REGIME_STYLE["rf"]["color"], "-"),
                 (ref_mean("nt", "exact"), "NT, exact", REGIME_STYLE["nt"]["color"], "-"),
                 (kernel, "kernel limit (linear part only)", "0.45", "--"),
                 (ref_mean("nn", "sgd"), "NN, SGD", REGIME_STYLE["nn"]["color"], "-")]
        for y, label, colour, style in lines:
            if y is not None:
                ax.axhline(y, color=colour, linestyle=style, linewidth=1.0, label=label)
        x, m, sd = _by_eta(rows, "exact")
        ax.errorbar(x, m, yerr=sd, linestyle="none", marker="o", markersize=4, color="k", capsize=2,
                    label="one step, exact risk" + ("" if len(seeds) == 1 else f" ({len(seeds)} draws)"))
        x, m, _ = _by_eta(rows, "theory", "srf")
        ax.plot(x, m, color="#9467bd", linewidth=1.4, label="theory: spiked RF (Cui et al.)")
        small = sorted((r for r in rows if r.get("variant") == "small_step" and r["lr"] <= np.sqrt(n)),
                       key=lambda r: r["lr"])
        ax.plot([r["lr"] for r in small], [r["risk"] for r in small], color="#8c564b", linestyle=":",
                linewidth=1.6, label="theory: η = Θ(1) formula")
        ax.axvline(np.sqrt(n), color="0.7", linewidth=0.8)
        ax.text(np.sqrt(n) * 1.08, 0.98, "η = √N", color="0.4", fontsize=6.5, va="top",
                transform=ax.get_xaxis_transform())
        ax.set_xscale("log")
        ax.set_xlabel("step size η (Ba et al.'s normalisation)")
        ax.set_ylabel("risk after the step, R/R0")
        ax.set_ylim(0.0, 1.0)
        ax.grid(True, alpha=0.25, linewidth=0.6)

        ax.set_title(f"He₁ + He₂/√2 on one direction, ReLU\nd = N = {d}, n0 = {n0}: one step, then the "
                     f"best second layer", fontsize=8)
        x, m, sd = _by_eta(rows, "exact", key="alignment")
        ax_a.errorbar(x, m, yerr=sd, linestyle="none", marker="o", markersize=4, color="k", capsize=2,
                      label="simulation")
        theory = [spike_theory(task, act, n, e, n0) for e in dense]
        ax_a.plot(dense, [t["alignment"] for t in theory], color="#9467bd", linewidth=1.4,
                  label="theory: γ·BBP overlap")
        ax_a.axhline(theory[-1]["gamma"], color="0.45", linestyle="--", linewidth=0.9,
                     label=f"γ = ⟨β̂, u⟩ = {theory[-1]['gamma']:.3f}")
        ax_a.set_xscale("log")
        ax_a.set_ylim(0.0, 1.0)
        ax_a.set_xlabel("step size η")
        ax_a.set_ylabel("|⟨v₁(W1), u⟩|")
        ax_a.grid(True, alpha=0.25, linewidth=0.6)
        ax_a.legend(loc="upper left", frameon=False, fontsize=6.5)
        ax_a.set_title("Alignment of W1's top singular vector\nwith the target direction", fontsize=8)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=4, frameon=False,
                   fontsize=6.5)
        return save_figure(fig, out, name)



FIGURES["fig7"] = fig7
FIGURES["fig8"] = fig8
