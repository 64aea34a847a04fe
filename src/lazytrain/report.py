"""A self-contained HTML report of an output directory's result store.

One file, no external resources: the figures are embedded as base64 PNG.
It shows, for every task and activation, the risk-against-N figure, a
table of theory against exact against SGD (mean ± standard deviation over
seeds), the runs that filled the store (with how each ended) and the
provenance of every point (package version, git commit, device, host, wall
time, run).

Points are averaged over seeds only when everything else that determines
them is equal: points whose settings differ (e.g. SGD steps, lr, batch
size; see :func:`lazytrain.experiments.results.settings_of`) get their own
figure and table, titled by the settings that tell them apart. Every value
that comes from the store or a spec is HTML-escaped, and its '$' escaped
for matplotlib (store text is never mathtext; our own tick labels are), so
a crafted store cannot inject markup into the page. A table of contents
links every section.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
from pathlib import Path

from ._version import __version__
from .experiments.results import settings_of, tidy_rows
from .experiments.store import ResultStore
from .records import atomic_write_text

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
code, .mono { font-family: ui-monospace, monospace; font-size: 0.95em; }
img { max-width: 46em; } .note { color: #555; font-size: 0.9em; } .bad { color: #b00; }
"""


def _esc(value) -> str:
    """HTML-escaped text (quotes included: safe in element content and in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(x, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _table(header, rows, left=()) -> str:
    head = "".join(f'<th class="{"l" if i in left else ""}">{_esc(h)}</th>'
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i in left else ""}">{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mpl(text) -> str:
    """Store text for a matplotlib title or label: drawn literally ('$' escaped, never mathtext;
    mathtext stays on for the figures' own text, such as log-axis tick labels 10⁰)."""
    return str(text).replace("$", r"\$")


def _png(fig) -> str:
    """A figure as base64 PNG (and closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=130)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def risk_figure(rows, title: str, d: int):
    """The report's risk-against-N figure (a matplotlib Figure): ``title`` (store text) drawn
    literally, theory as a broad band under the markers (visible where the exact points sit on
    it), the legend beside the axes so that it never covers a curve."""
    from .figures import THEORY_BAND, new_figure, paper_style, plot_risk_vs_neurons

    with paper_style():
        fig, (ax,) = new_figure(width_per_panel=4.6)
        plot_risk_vs_neurons(ax, rows, d=d, legend={"loc": "upper left", "anchor": (1.02, 1.0)},
                             theory_style=THEORY_BAND)
        ax.set_title(_mpl(title))
        fig.canvas.draw()
    return fig


def _figure_png(rows, title: str, d: int) -> str:
    return _png(risk_figure(rows, title, d))


def _curves_png(records, title: str) -> str | None:
    fig = curves_figure(records, title)
    return None if fig is None else _png(fig)


def curves_figure(records, title: str):
    """Learning curves of the SGD points (first seed): risk against samples seen, log-log."""
    curves = []
    for rec in records:
        hist = json.loads(rec["extra_json"] or "{}").get("history")
        if rec["kind"] == "sgd" and hist and hist.get("samples"):
            curves.append((rec, hist))
    if not curves:
        return None
    first_seed = min(rec["seed"] for rec, _ in curves)
    curves = [(rec, h) for rec, h in curves if rec["seed"] == first_seed]
    from .figures import REGIME_STYLE, new_figure, paper_style

    with paper_style():
        fig, (ax,) = new_figure(width_per_panel=4.6)
        widths = sorted({rec["n_neurons"] for rec, _ in curves})
        for rec, hist in sorted(curves, key=lambda c: (c[0]["regime"], c[0]["n_neurons"])):
            style = REGIME_STYLE.get(rec["regime"], {"color": "0.3"})
            shade = 0.35 + 0.65 * (widths.index(rec["n_neurons"]) + 1) / len(widths)
            pts = [(x, y) for x, y in zip(hist["samples"], hist["risk"]) if x > 0 and y > 0]
            if pts:
                ax.plot(*zip(*pts), color=style["color"], alpha=shade, linewidth=1.0)
        from matplotlib.lines import Line2D

        present = [g for g in REGIME_STYLE if any(rec["regime"] == g for rec, _ in curves)]
        ax.legend([Line2D([], [], color=REGIME_STYLE[g]["color"]) for g in present],
                  [REGIME_STYLE[g]["label"] for g in present], frameon=False, loc="upper left",
                  bbox_to_anchor=(1.02, 1.0))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("samples seen (steps × batch)")
        ax.set_ylabel("normalised risk R / R0")
        ax.set_title(f"{_mpl(title)}\nSGD learning curves (seed {first_seed}; darker: larger N)")
        ax.grid(True, alpha=0.25, linewidth=0.6)
        fig.canvas.draw()
    return fig


#: The kinds compared side by side per (regime, N); 'fit' points have their own table.
COMPARED = ("theory", "exact", "sgd")


def _fit_table(rows) -> str:
    """Fitted predictors: mean ± sd over seeds per (regime, n, ridge setting, N)."""
    import statistics

    groups: dict = {}
    for r in rows:
        key = (r["regime"], int(r["n_samples"]), str(r["ridge_setting"]), int(r["n_neurons"]))
        groups.setdefault(key, []).append(r)
    out = []
    for (regime, n, ridge, N), rs in sorted(groups.items()):
        risks = [float(r["risk"]) for r in rs]
        trains = [float(r["train_risk"]) for r in rs]
        sd = f" ± {_fmt(statistics.stdev(risks))}" if len(risks) > 1 else ""
        out.append([regime.upper().replace("_KERNEL", " kernel"), str(n), _esc(ridge),
                    "∞" if N == 0 else str(N), _fmt(statistics.fmean(risks)) + sd,
                    _fmt(statistics.fmean(trains)), str(len(rs))])
    return _table(["regime", "n samples", "ridge", "N", "risk (population)", "train risk", "seeds"],
                  out, left=(0,))


def _is_lazy(row) -> bool:
    """An SGD point trained under the lazy scaling (``training.alpha``; Figure 5)."""
    return row.get("alpha") not in (None, "")


#: The largest N·d for which the report computes a lazy limit (exact NT + second layer) itself;
#: σ = u² has a closed form at any size.
LAZY_LIMIT_MAX_FEATURES = 20_000


def lazy_limit(record) -> float | None:
    """The exact NT + second-layer risk of a lazily trained point's initial weights (α → ∞):
    ``exact_risk(task, 'nt', random_weights(d, N, seed), σ, second_layer=True)``, as Figure 5
    draws it; None where it cannot be had cheaply (N·d above :data:`LAZY_LIMIT_MAX_FEATURES`
    without a closed form) or the point's task cannot be rebuilt."""
    point = json.loads(record.get("point_json") or "{}")
    try:
        n, d, act = int(record["n_neurons"]), int(record["d"]), str(record["activation"])
        if act != "quadratic" and n * d > LAZY_LIMIT_MAX_FEATURES:
            return None
        from .exact import exact_risk
        from .experiments.spec import validate_spec
        from .weights import random_weights

        task = validate_spec({"task": point["task"], "n_neurons": [n], "activations": [act]}).task.build()
        return float(exact_risk(task, "nt", random_weights(d, n, seed=int(record["seed"])), act,
                                second_layer=True))
    except Exception:  # a point this version cannot rebuild: no line, the rest of the report stands
        return None


def _lazy_section(rows, records_by_key) -> str:
    """Risk and weight movement against α for the lazily scaled points of one task and activation."""
    lazy = sorted((r for r in rows if _is_lazy(r)), key=lambda r: (r["n_neurons"], r["seed"], r["alpha"]))
    if not lazy:
        return ""
    optimum = {r["n_neurons"]: r["risk"] for r in rows if r["kind"] == "theory" and r["regime"] == "nn"}
    from .figures import new_figure, paper_style, plot_risk_vs_alpha, plot_weight_change_vs_alpha

    imgs, limits = [], {}
    for (n, seed) in dict.fromkeys((r["n_neurons"], r["seed"]) for r in lazy):
        mine = [r for r in lazy if r["n_neurons"] == n and r["seed"] == seed]
        limits[n, seed] = lazy_limit(records_by_key[mine[0]["key"]])
        with paper_style():
            fig, (ax, ax_w) = new_figure(ncols=2)
            plot_risk_vs_alpha(ax, [r["alpha"] for r in mine], [r["risk"] for r in mine], n,
                               lazy_limit=limits[n, seed], optimum=optimum.get(n))
            ax.set_title(f"N = {n}, seed {seed}")
            plot_weight_change_vs_alpha(ax_w, [r["alpha"] for r in mine],
                                        [r.get("weight_change", float("nan")) for r in mine])
        imgs.append(f"<img alt='lazy scaling, N = {n}' src='data:image/png;base64,{_png(fig)}'>")
    table = _table(["N", "seed", "α", "SGD risk", "‖W − W0‖/‖W0‖", "NT + second layer", "NN optimum"],
                   [[str(r["n_neurons"]), _esc(r["seed"]), f"{float(r['alpha']):g}", _fmt(r["risk"]),
                     _fmt(r.get("weight_change"), 4), _fmt(limits.get((r["n_neurons"], r["seed"]))),
                     _fmt(optimum.get(r["n_neurons"]))] for r in lazy])
    return ("<h3>Lazy scaling: the NN trained as c + α(h(θ) − h(θ0))</h3><p class='note'>Large α: "
            "the network stays at its linearisation (NT + second layer); small α: it learns "
            "features.</p>" + "".join(imgs) + table)


def _stat_cell(stats_by_n, n) -> str:
    s = stats_by_n.get(n)
    if s is None:
        return "–"
    _, mean, sd, count = s
    return _fmt(mean) + (f" ± {_fmt(sd)} <span class='note'>({count})</span>" if count > 1 else "")


def _comparison(rows, varying) -> str:
    """Theory vs exact vs SGD, one table row per (regime, N); ``varying``: per-N settings."""
    from .figures import REGIME_STYLE, seed_stats

    out = []
    present = {r["regime"] for r in rows}
    for regime in [g for g in REGIME_STYLE if g in present] + sorted(present - set(REGIME_STYLE)):
        stats = {k: {s[0]: s for s in seed_stats(rows, regime, k)} for k in COMPARED}
        per_n = {}
        for r in rows:
            if r["regime"] == regime and r["kind"] != "theory":
                extra = ", ".join(f"{k}={r[k]}" for k in varying if r.get(k) not in (None, ""))
                if extra:
                    per_n.setdefault(r["n_neurons"], set()).add(extra)
        for n in sorted(set().union(*[set(v) for v in stats.values()])):
            th, ex, sg = (stats[k].get(n) for k in COMPARED)
            gap_te = _fmt(ex[1] - th[1], 4) if th and ex else "–"
            gap_se = _fmt(sg[1] - ex[1], 4) if sg and ex else "–"
            row = [_esc(str(regime).upper()), _esc(n), _stat_cell(stats["theory"], n),
                   _stat_cell(stats["exact"], n), _stat_cell(stats["sgd"], n), gap_te, gap_se]
            if varying:
                row.append(_esc("; ".join(sorted(per_n.get(n, ())))))
            out.append(row)
    header = ["regime", "N", "theory", "exact", "SGD", "exact − theory", "SGD − exact"]
    if varying:
        header.append("settings at this N")
    return _table(header, out, left=(0, 7))


def _series(records) -> tuple[dict, list]:
    """Split points into series that may be averaged over seeds.

    A point's settings (:func:`settings_of`) minus those that vary with N within one run
    (e.g. lr scaled with the width, the widths trained together) make its series; points
    without settings (theory, exact) belong to every series. Returns key -> series label
    (JSON of the series' settings; '' for the shared points) and the per-N setting names.
    """
    settings = {rec["key"]: settings_of(rec.get("point_json") or "{}") for rec in records}
    seen: dict = {}
    for rec in records:
        group = (rec["run_id"], rec["task_params"], rec["activation"], rec["regime"], rec["kind"])
        for k, v in settings[rec["key"]].items():
            seen.setdefault((group, k), set()).add(json.dumps(v))
    varying = sorted({k for (_, k), values in seen.items() if len(values) > 1})
    label = {key: json.dumps({k: v for k, v in s.items() if k not in varying}, sort_keys=True)
             if s else "" for key, s in settings.items()}
    # never average different settings: if one (regime, kind, N, seed) still has two points
    # in a series, every per-N setting becomes part of the series too
    cells: dict = {}
    for rec in records:
        cell = (label[rec["key"]], rec["task_params"], rec["activation"], rec["regime"],
                rec["kind"], rec["n_neurons"], rec["seed"])
        cells.setdefault(cell, set()).add(rec["key"])
    if any(len(keys) > 1 for keys in cells.values()):
        label = {key: json.dumps(s, sort_keys=True) if s else "" for key, s in settings.items()}
        varying = []
    return label, varying


def _series_title(label: str, labels) -> str:
    """The settings that tell this series apart from the others ('' when there is one)."""
    others = [json.loads(x) for x in labels if x]
    if len(others) < 2:
        return ""
    mine = json.loads(label)
    differ = [k for k in mine if any(o.get(k) != mine[k] for o in others)]
    return ", ".join(f"{k} = {mine[k]}" for k in differ)


def _status(run) -> str:
    status = run.get("status") or "unknown"
    css = "" if status == "done" else " class='bad'"
    return f"<span{css}>{_esc(status)}</span>"


def _unavailable_from_runs(runs) -> list[dict]:
    """The points each run's spec left out (no formula), recomputed from the stored spec JSON."""
    import json

    from .experiments.spec import validate_spec

    out, seen = [], set()
    for r in runs:
        try:
            data = json.loads(r["spec_json"])
            specs = [validate_spec(d) for d in (data if isinstance(data, list) else [data])]
        except Exception:  # a spec this version cannot read: nothing to add
            continue
        for spec in specs:
            for u in spec.unavailable():
                key = (spec.name, u["kind"], u["regime"], u["activation"])
                if key not in seen:
                    seen.add(key)
                    out.append({"spec": spec.name, **u})
    return out


def _by_degree(rows) -> str:
    """The risk the exact fits leave in each Hermite degree (Hermite targets), or '' when none."""
    import re

    cols = sorted({k for r in rows for k in r if re.fullmatch(r"risk_deg\d+", k)}, key=lambda k: int(k[8:]))
    exact = [r for r in rows if r["kind"] == "exact" and any(r.get(c) not in (None, "") for c in cols)]
    if not cols or not exact:
        return ""
    body = [[_esc(str(r["regime"]).upper()), _esc(r["n_neurons"]), _esc(r["seed"]), _fmt(float(r["risk"]))]
            + [_fmt(float(r[c])) if r.get(c) not in (None, "") else "–" for c in cols + ["risk_above"]]
            for r in exact]
    head = ["regime", "N", "seed", "R/R0"] + [f"degree {c[8:]}" for c in cols] + ["above"]
    return ("<h3>Risk left in each Hermite degree (exact fits)</h3><p class='note'>‖P_ℓ(f* − f̂)‖²/R0 for "
            "the best predictor; the columns add up to R/R0 (docs/theory.md §4).</p>" + _table(head, body, left=(0,)))


def _without_d(params: str) -> str:
    """A task label without its dimension: 'hermite(d=12, k=4)' -> 'hermite(k=4)'."""
    import re

    return re.sub(r"\bd=\d+(, )?", "", str(params)).replace(", )", ")")


#: A panel with at most this many widths N may be part of a sweep over d (Figure 4, right).
SWEEP_MAX_WIDTHS = 3


def _dimension_sweeps(panels) -> dict:
    """Panels that differ only in d, each with a few widths N = ρd (Figure 4's right panel: five
    dimensions, N = d and 2d): one section against d rather than one two-point section per d.

    Returns (task, label without d, activation) -> {'panels': the panels' keys, 'rows': their
    rows, and those of the same family's other panels at the sweep's ρ = N/d}.
    """
    families: dict = {}
    for key in panels:
        task, params, activation, _d = key
        families.setdefault((task, _without_d(params), activation), []).append(key)
    sweeps = {}
    for family, keys in families.items():
        small = [k for k in keys
                 if len({r["n_neurons"] for rs in panels[k].values() for r in rs}) <= SWEEP_MAX_WIDTHS]
        if len({k[3] for k in small}) < 3:
            continue
        rows = [r for k in small for rs in panels[k].values() for r in rs]
        rhos = {r["n_neurons"] / r["d"] for r in rows}
        kinds = {(r["regime"], r["kind"]) for r in rows}
        rows += [r for k in keys if k not in small for rs in panels[k].values() for r in rs
                 if r["n_neurons"] / r["d"] in rhos and (r["regime"], r["kind"]) in kinds]
        sweeps[family] = {"panels": small, "rows": rows}
    return sweeps


def _sweep_section(rows, title: str) -> str:
    """Risk against d at each ρ = N/d (mean ± sd over seeds), a figure and a table."""
    import statistics

    from .figures import REGIME_STYLE, new_figure, paper_style

    groups: dict = {}
    for r in rows:
        rho = r["n_neurons"] / r["d"]
        groups.setdefault((r["regime"], r["kind"], rho), {}).setdefault(int(r["d"]), []).append(float(r["risk"]))
    dashes = ["-", "--", ":", "-."]
    rhos = sorted({g[2] for g in groups})
    table = []
    with paper_style():
        fig, (ax,) = new_figure(width_per_panel=4.6)
        for (regime, kind, rho), by_d in sorted(groups.items()):
            style = REGIME_STYLE.get(regime, {"color": "0.3", "marker": "o", "label": regime})
            ds = sorted(by_d)
            mean = [statistics.fmean(by_d[x]) for x in ds]
            sd = [statistics.stdev(by_d[x]) if len(by_d[x]) > 1 else 0.0 for x in ds]
            ax.errorbar(ds, mean, yerr=sd, color=style["color"], capsize=1.5, linewidth=1.0,
                        linestyle=dashes[rhos.index(rho) % len(dashes)],
                        marker="" if kind == "theory" else style["marker"], markersize=4.5,
                        markerfacecolor="white" if kind == "exact" else style["color"],
                        label=f"{style['label']} {kind}, N = {'' if rho == 1 else f'{rho:g}'}d")
            for x, m, e in zip(ds, mean, sd):
                table.append([_esc(str(regime).upper()), _esc(kind), f"{rho:g}", str(x),
                              _fmt(m) + (f" ± {_fmt(e)} <span class='note'>({len(by_d[x])})</span>"
                                         if len(by_d[x]) > 1 else "")])
        ax.set_xlabel("dimension d")
        ax.set_ylabel("normalised risk R / R0")
        ax.set_title(_mpl(title))
        ax.grid(True, alpha=0.25, linewidth=0.6)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        fig.canvas.draw()
    img = f"<img alt='{_esc(title)} against d' src='data:image/png;base64,{_png(fig)}'>"
    return (img + "<h3>Risk against d at fixed ρ = N/d</h3>"
            + _table(["regime", "kind", "ρ = N/d", "d", "R/R0"], table, left=(0, 1))
            + _by_degree(rows))


def render_report(records, runs, source: str) -> str:
    """The HTML text of the report for store ``records`` and ``runs``."""
    rows = tidy_rows(records)
    by_key = {r["key"]: r for r in records}
    # points fitted on n samples get their own tables (below), and lazily scaled points
    # (training.alpha, Figure 5) their own section (risk against α); the panels compare the others
    fitted = [r for r in rows if r["kind"] == "fit"]
    lazy: dict = {}
    for r in rows:
        if _is_lazy(r):
            lazy.setdefault((r["task"], r["task_params"], r["activation"], r["d"]), []).append(r)
    lazy_keys = {r["key"] for group in lazy.values() for r in group}
    records = [rec for rec in records if rec["kind"] != "fit" and rec["key"] not in lazy_keys]
    label, varying = _series(records)
    position = {r["key"]: i for i, r in enumerate(rows)}
    panels: dict = {}
    for r in rows:
        if r["kind"] == "fit" or r["key"] in lazy_keys:
            continue
        panel = panels.setdefault((r["task"], r["task_params"], r["activation"], r["d"]), {})
        panel.setdefault(label[r["key"]], []).append(r)
    toc: list = []

    def h2(title: str) -> str:
        """A section heading with an anchor, listed in the table of contents."""
        toc.append((f"s{len(toc) + 1}", title))
        return f"<h2 id='{toc[-1][0]}'>{_esc(title)}</h2>"

    intro = (f"<h1>lazytrain report</h1><p class='note'>{len(rows)} points from "
             f"<code>{_esc(source)}</code>; generated {_dt.datetime.now().isoformat(timespec='seconds')} "
             f"by lazytrain {_esc(__version__)}. Risks are normalised, R/R0 (R0: risk of the best "
             "constant predictor). Exact and SGD values with several seeds: mean ± standard "
             "deviation across seeds (number of seeds in brackets); points whose settings "
             "differ are never averaged together.</p>")
    parts = []
    if not rows:
        parts.append("<p class='bad'>This store holds no points yet: run "
                     "<code>lazytrain run SPEC --out DIR</code> to compute some.</p>")
    sweeps = _dimension_sweeps(panels)
    swept = {key for sweep in sweeps.values() for key in sweep["panels"]}
    for (task, params, activation, d), by_series in panels.items():
        key = (task, params, activation, d)
        if key in swept:
            continue
        shared = by_series.pop("", [])
        lazy_rows = lazy.pop(key, [])
        everything = shared + [r for rs in by_series.values() for r in rs]
        if lazy_rows and all(r["kind"] == "theory" for r in everything):
            # Figure 5: the only other points are the NN optimum the α plot draws; no N plot
            parts.append(h2(f"{task}: {params}, σ = {activation}: lazy scaling")
                         + _lazy_section(lazy_rows + shared, by_key))
            continue
        series = sorted(by_series) or [""]
        for s in series:
            mine = sorted(shared + by_series.get(s, []), key=lambda r: position[r["key"]]) if s else shared
            which = _series_title(s, series) if s else ""
            title = f"{task}: {params}, σ = {activation}" + (f"; {which}" if which else "")
            png = _figure_png(mine, f"{params}, σ = {activation}" + (f"\n{which}" if which else ""), d)
            curves = _curves_png([by_key[r["key"]] for r in mine], f"{params}, σ = {activation}")
            imgs = "".join(f"<img alt='{_esc(title)}' src='data:image/png;base64,{p}'>"
                           for p in (png, curves) if p)
            parts.append(f"{h2(title)}{imgs}"
                         f"<h3>Theory, exact and SGD</h3>{_comparison(mine, varying)}"
                         f"{_by_degree(mine)}")
        if lazy_rows:
            parts.append(_lazy_section(lazy_rows + shared, by_key))
    for (task, family, activation), sweep in sweeps.items():
        parts.append(h2(f"{task}: {family}, σ = {activation}: against the dimension d")
                     + _sweep_section(sweep["rows"], f"{family}, σ = {activation}"))
    for (task, params, activation, _d), group in lazy.items():  # panels with lazy points only
        parts.append(h2(f"{task}: {params}, σ = {activation}: lazy scaling") + _lazy_section(group, by_key))
    skipped = _unavailable_from_runs(runs)
    if skipped:
        parts.append(h2("Points not computed") + "<p class='note'>No formula or method exists for "
                     "these combinations; the runs left them out.</p>" + _table(
                         ["spec", "kind", "regime", "σ", "N", "reason"],
                         [[_esc(u["spec"]), _esc(u["kind"]), _esc(u["regime"]), _esc(u["activation"]),
                           _esc(", ".join(map(str, u["n_neurons"]))), _esc(u["reason"])] for u in skipped],
                         left=(0, 1, 2, 3, 4, 5)))
    fit_groups: dict = {}
    for r in fitted:
        fit_groups.setdefault((r["task"], r["task_params"], r["activation"]), []).append(r)
    for (task, params, activation), mine in fit_groups.items():
        parts.append(h2(f"{task}: {params}, σ = {activation}: fitted on n samples")
                     + "<p class='note'>Population risk of RF / NT / kernel ridge predictors fitted on n "
                     "samples (ridge 'tuned': the best of its grid for each draw).</p>" + _fit_table(mine))
    parts.append(h2("Runs") + _table(
        ["run", "started (UTC)", "spec", "executor", "workers", "status", "ended (UTC)", "version",
         "git commit", "host"],
        [[_esc(r["run_id"]), _esc(r["started_at"]), _esc(r["spec_name"]), _esc(r["executor"]),
          _esc("driver only" if r["workers"] == 0 else r["workers"] if r["workers"] else "–"),
          _status(r), _esc(r.get("finished_at") or "–"), _esc(r["package_version"]),
          f"<span class='mono'>{_esc(r['git_commit'] or '–')}</span>", _esc(r["host"])]
         for r in runs], left=(2, 3, 5, 8, 9)))
    setting_names = list(dict.fromkeys(k for rec in records for k in settings_of(rec["point_json"])))
    prov = []
    for r in rows:
        rec = by_key[r["key"]]
        prov.append([f"<span class='mono' title='{_esc(rec['key'])}'>{_esc(rec['key'][:12])}</span>",
                     _esc(rec["task_params"]), _esc(rec["kind"]), _esc(rec["regime"]),
                     _esc(rec["activation"]), _esc(rec["n_neurons"]), _esc(r["seed"]),
                     *[_esc(r.get(k, "")) for k in setting_names],
                     _fmt(rec["risk"], 6), _esc(rec["run_id"]), _esc(rec["package_version"]),
                     f"<span class='mono'>{_esc((rec['git_commit'] or '–')[:12])}</span>",
                     _esc(rec["device"]), _esc(rec["host"]), _fmt(rec["wall_s"], 3),
                     _esc(rec["finished_at"])])
    m = len(setting_names)
    parts.append(h2("Provenance of every point") + f"<details><summary>{len(prov)} points "
                 "(key = SHA-256 of everything that determines the value)</summary>" + _table(
                     ["key", "task", "kind", "regime", "σ", "N", "seed", *setting_names, "risk",
                      "run", "version", "git", "device", "host", "wall (s)", "finished (UTC)"],
                     prov, left=(0, 1, 2, 3, 4, 10 + m, 11 + m, 12 + m, 14 + m)) + "</details>")
    contents = ("<nav id='contents'><h2>Contents</h2><ol>"
                + "".join(f"<li><a href='#{anchor}'>{_esc(title)}</a></li>" for anchor, title in toc)
                + "</ol></nav>") if toc else ""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>lazytrain report</title><style>{_CSS}</style></head><body>"
            + "\n".join([intro, contents, *parts]) + "</body></html>\n")


def default_output(directory) -> Path:
    """DIR/report.html, or ./<DIR name>-report.html when DIR cannot be written."""
    directory = Path(directory)
    if os.access(directory, os.W_OK | os.X_OK):
        return directory / "report.html"
    return Path.cwd() / f"{directory.resolve().name}-report.html"


def write_report(directory, output=None) -> Path:
    """Write the HTML report of ``directory``'s store to ``output``.

    Default: DIR/report.html, or ``./<DIR name>-report.html`` when DIR is
    read-only (the store is read without writing anything next to it).
    An ``output`` that is the store itself, or one of its -wal/-shm files, is refused.
    """
    if output is not None:
        ResultStore.check_not_store_file(directory, output)
    with ResultStore.open(directory) as store:
        records, runs = store.records(), store.runs()
    path = Path(output) if output else default_output(directory)
    try:
        atomic_write_text(path, render_report(records, runs, str(directory)))
    except OSError as exc:
        raise RuntimeError(f"cannot write the report to {str(path)!r}: {exc.strerror or exc}; "
                           "give another file with --output") from None
    return path
