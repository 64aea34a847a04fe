"""Figures from tidy result rows (see :mod:`lazytrain.records`).

Only matplotlib and the rows: nothing here computes a risk.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .regimes import REGISTRY  # noqa: E402

#: regime -> colour, label and marker, in the registry's order (each regime's ``style`` and ``label``).
REGIME_STYLE = {name: {**cls.style, "label": cls.label} for name, cls in REGISTRY.items()}

#: Paper-like style: readable at column width.
RC = {
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "savefig.dpi": 200,
}


def seed_stats(rows, regime: str, kind: str) -> list[tuple]:
    """Mean and spread over seeds of one regime and kind, per N.

    Returns
    -------
    list of (n_neurons, mean, std, count), sorted by N; ``std`` is the
    sample standard deviation over seeds (ddof = 1), 0 for a single seed.
    NaN risks (a failed point) are left out.
    """
    import math
    import statistics

    groups: dict[int, list[float]] = {}
    for r in rows:
        if r["regime"] == regime and r["kind"] == kind and not math.isnan(float(r["risk"])):
            groups.setdefault(int(r["n_neurons"]), []).append(float(r["risk"]))
    return [(n, statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
            for n, v in sorted(groups.items())]


#: A theory line drawn as a broad translucent band under the markers (the report: visible even
#: where the exact points sit on it).
THEORY_BAND = {"linewidth": 4.0, "alpha": 0.3, "zorder": 1, "solid_capstyle": "round"}


def plot_risk_vs_neurons(ax, rows, curves=None, d=None, ylabel=None, legend=None, theory_style=None):
    """Risk against N for each regime: theory lines, exact and SGD markers.

    Parameters
    ----------
    ax : matplotlib Axes
    rows : list of dict
        Tidy rows; kinds 'exact' and 'sgd' become markers ('exact' open,
        'sgd' filled), kind 'theory' becomes a line unless ``curves`` is given.
        With several seeds at one N, the marker is the mean over seeds and
        an error bar shows ± one standard deviation across seeds.
    curves : dict regime -> (n_values, risks), optional
        Dense theory curves to draw as lines instead of the theory rows.
    d : int, optional
        Draws a dotted vertical line at N = d.
    legend : dict, optional
        Keyword arguments for :func:`add_legend` (``loc``, ``anchor``, ``extra``
        entries such as a Bayes-risk line drawn by the caller).
    theory_style : dict, optional
        Line properties of the theory lines (e.g. :data:`THEORY_BAND`), also in the legend.
    """
    lined = set()  # the regimes drawn with a line (their legend entry shows one)
    for regime, style in REGIME_STYLE.items():
        mine = [r for r in rows if r["regime"] == regime]
        if not mine and not (curves and regime in curves):
            continue
        if curves and regime in curves:
            xs, ys = curves[regime]
        else:
            stats = seed_stats(mine, regime, "theory")
            xs, ys = [s[0] for s in stats], [s[1] for s in stats]
        if len(xs):
            ax.plot(xs, ys, color=style["color"], **(theory_style or {}))
            lined.add(regime)
        for kind, face, size in (("exact", "white", 4.5), ("sgd", style["color"], 4.5)):
            stats = seed_stats(mine, regime, kind)
            if not stats:
                continue
            spread = [s[2] for s in stats] if any(s[3] > 1 for s in stats) else None
            ax.errorbar([s[0] for s in stats], [s[1] for s in stats], yerr=spread,
                        linestyle="none", marker=style["marker"], markersize=size,
                        markerfacecolor=face, markeredgecolor=style["color"],
                        markeredgewidth=1.0, ecolor=style["color"], elinewidth=0.8, capsize=1.5)
    if d is not None:
        ax.axvline(d, color="0.5", linestyle=":", linewidth=1.0)
        ax.text(d, 0.97, " N = d", color="0.4", fontsize=7, va="top", ha="left",
                transform=ax.get_xaxis_transform())
    ax.set_xlabel("number of neurons N")
    ax.set_ylabel(ylabel or "normalised risk R / R0")
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.25, linewidth=0.6)
    add_legend(ax, rows, lines=lined, theory_style=theory_style, **(legend or {}))


def plot_learning_curves(ax, curves, theory, ylabel=None):
    """Risk against samples seen for a few widths, dashed lines at the theory values.

    Parameters
    ----------
    ax : matplotlib Axes
    curves : list of dict
        Each with 'regime', 'n_neurons', 'samples' (array) and 'risk' (array).
    theory : dict (regime, n_neurons) -> float
        The n = ∞ value drawn as a dashed line in the curve's colour.
    """
    import numpy as np

    ns = sorted({c["n_neurons"] for c in curves})
    cmap = plt.get_cmap("viridis")
    colour = {n: cmap(0.85 * i / max(len(ns) - 1, 1)) for i, n in enumerate(ns)}
    dash = {"nn": "-", "nt": "-.", "rf": ":"}
    for c in curves:
        keep = np.asarray(c["samples"]) > 0  # log axis
        label = f"{REGIME_STYLE[c['regime']]['label']}, N = {c['n_neurons']}"
        ax.plot(np.asarray(c["samples"])[keep], np.asarray(c["risk"])[keep],
                color=colour[c["n_neurons"]], linestyle=dash.get(c["regime"], "-"), label=label)
        value = theory.get((c["regime"], c["n_neurons"]))
        if value is not None:
            ax.axhline(value, color=colour[c["n_neurons"]], linestyle="--", linewidth=0.9, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("number of samples (SGD steps × batch)")
    ax.set_ylabel(ylabel or "normalised risk R / R0")
    ax.set_ylim(-0.02, 1.05)
    ax.grid(True, alpha=0.25, linewidth=0.6)
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=0.9))
    labels.append("theory (n = ∞)")
    ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def plot_risk_vs_alpha(ax, alphas, risks, n_neurons, lazy_limit=None, optimum=None):
    """Figure 5, left: the risk SGD reaches against the lazy scaling α (log axis).

    ``lazy_limit`` (the exact NT + second-layer risk, α → ∞) and ``optimum``
    (the NN optimum) are drawn as dashed lines when given.
    """
    import numpy as np

    if lazy_limit is not None:
        ax.axhline(lazy_limit, color=REGIME_STYLE["nt"]["color"], linestyle="--", linewidth=1.2,
                   label="exact NT + second layer (α → ∞)")
    if optimum is not None:
        ax.axhline(optimum, color=REGIME_STYLE["nn"]["color"], linestyle="--", linewidth=1.2,
                   label="NN optimum (rank N)")
    ax.plot(alphas, risks, color="0.15", marker="o", markersize=4, linewidth=1, label=f"SGD, N = {n_neurons}")
    ax.set_xscale("log")
    ax.set_xlabel("α (lazy scaling): rich ← → lazy")
    ax.set_ylabel("normalised risk R/R0 after training")
    top = float(np.nanmax(risks)) if len(risks) else 1.0
    ax.set_ylim(0, max(1.0, top * 1.05))
    ax.legend(loc="upper left", frameon=False)


def plot_weight_change_vs_alpha(ax, alphas, moved):
    """Figure 5, right: ‖W - W0‖_F/‖W0‖_F against α (log-log), with a 1/α guide through the laziest point."""
    import numpy as np

    alphas, moved = np.asarray(alphas, dtype=float), np.asarray(moved, dtype=float)
    ax.loglog(alphas, moved, color="0.15", marker="o", markersize=4, linewidth=1, label="SGD")
    if len(alphas):
        last = int(np.argmax(alphas))
        ax.loglog(alphas, moved[last] * alphas[last] / alphas, color="0.5", linestyle=":", label="∝ 1/α")
    ax.set_xlabel("α (lazy scaling)")
    ax.set_ylabel("‖W − W0‖_F / ‖W0‖_F")
    ax.legend(loc="lower left", frameon=False)
    ax.set_title("relative movement of the first layer")


def add_legend(ax, rows, loc="lower right", extra=(), anchor=(1.0, 0.06), lines=None,
               theory_style=None):
    """One legend: a colour per regime, and the line/marker code for the kinds.

    ``extra`` adds (handle, label) pairs (e.g. a Bayes-risk line). ``lines``: the regimes drawn
    with a line (default: those with theory rows); the others' entries show the marker alone.
    """
    from matplotlib.lines import Line2D

    present = {r["regime"] for r in rows}
    kinds = {r["kind"] for r in rows}
    handles, labels = [], []
    for regime, style in REGIME_STYLE.items():
        if regime in present:
            # the regime's marker as it appears in the plot: open when it has exact points,
            # filled when it has only SGD points, none when it has only lines
            mine = {r["kind"] for r in rows if r["regime"] == regime}
            face = ("white" if "exact" in mine else style["color"] if "sgd" in mine else None)
            lined = regime in lines if lines is not None else "theory" in mine
            handles.append(Line2D([], [], color=style["color"], marker=style["marker"] if face else "",
                                  linestyle="-" if lined else "none",
                                  markerfacecolor=face or "white", markersize=4.5))
            labels.append(style["label"])
    band = {k: v for k, v in (theory_style or {}).items() if k in ("linewidth", "alpha")}
    code = [("theory", Line2D([], [], color="0.3", **band), "theory (line)"),
            ("exact", Line2D([], [], color="0.3", marker="o", linestyle="none",
                             markerfacecolor="white", markersize=4.5), "exact (open)"),
            ("sgd", Line2D([], [], color="0.3", marker="o", linestyle="none",
                           markersize=4.5), "SGD (filled)")]
    for kind, handle, label in code:
        if kind in kinds:
            handles.append(handle)
            labels.append(label)
    counts: dict = {}
    for r in rows:
        if r["kind"] != "theory":
            k = (r["regime"], r["kind"], r["n_neurons"])
            counts[k] = counts.get(k, 0) + 1
    if counts and max(counts.values()) > 1:
        handles.append(Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=7))
        labels.append(f"mean ± sd over {max(counts.values())} seeds")
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    ax.legend(handles, labels, loc=loc, bbox_to_anchor=anchor, frameon=False)


def legend_below(fig, ax, others=()):
    """Move ``ax``'s legend below the whole figure, in one row; drop the legends of ``others``."""
    leg = ax.get_legend()
    handles, labels = leg.legend_handles, [t.get_text() for t in leg.texts]
    for a in (ax, *others):
        if a.get_legend() is not None:
            a.get_legend().remove()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)


def save_figure(fig, out_dir, name: str) -> list[Path]:
    """Save ``fig`` as PNG and PDF under ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{name}.{ext}"
        tmp = out_dir / f".{name}.tmp.{ext}"
        fig.savefig(tmp, bbox_inches="tight")
        tmp.replace(path)
        paths.append(path)
    plt.close(fig)
    return paths


def paper_style():
    """Context manager applying the paper-like style (use around a whole figure)."""
    return plt.rc_context(RC)


def new_figure(ncols: int = 1, width_per_panel: float = 3.4, height: float = 2.7):
    """A figure with ``ncols`` panels sized for a paper column (call inside :func:`paper_style`)."""
    fig, axes = plt.subplots(1, ncols, figsize=(width_per_panel * ncols, height), squeeze=False,
                             layout="constrained")
    return fig, axes[0]
