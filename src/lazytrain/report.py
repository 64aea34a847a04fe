"""A self-contained HTML report of an output directory's result store.

One file, no external resources: the figures are embedded as base64 PNG.
It shows, for every task and activation, the risk-against-N figure, a
table of theory against exact against SGD (mean ± standard deviation over
seeds), the runs that filled the store and the provenance of every point
(package version, git commit, device, host, wall time, run).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
from pathlib import Path

from ._version import __version__
from .experiments import ResultStore, tidy_rows
from .figures import (REGIME_STYLE, new_figure, paper_style, plot_risk_vs_alpha, plot_risk_vs_neurons,
                      plot_weight_change_vs_alpha, seed_stats)
from .records import KINDS, atomic_write_text

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
code, .mono { font-family: ui-monospace, monospace; font-size: 0.95em; }
img { max-width: 34em; } .note { color: #555; font-size: 0.9em; }
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(x, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _table(header, rows, left=()) -> str:
    head = "".join(f'<th class="{"l" if i in left else ""}">{_esc(h)}</th>'
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i in left else ""}">{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure_png(rows, title: str, d: int) -> str:
    with paper_style():
        fig, (ax,) = new_figure()
        plot_risk_vs_neurons(ax, rows, d=d)
        ax.set_title(title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight", dpi=130)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _curves_png(records, title: str) -> str | None:
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
    with paper_style():
        fig, (ax,) = new_figure()
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
                  [REGIME_STYLE[g]["label"] for g in present], frameon=False, loc="lower left")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("samples seen (steps × batch)")
        ax.set_ylabel("normalised risk R / R0")
        ax.set_title(f"{title}\nSGD learning curves (seed {first_seed}; darker: larger N)")
        ax.grid(True, alpha=0.25, linewidth=0.6)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight", dpi=130)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _is_lazy(row) -> bool:
    """An SGD point trained under the lazy scaling (``training.alpha``; Figure 5)."""
    return row.get("alpha") not in (None, "")


def _lazy_section(rows) -> str:
    """Risk and weight movement against α for the lazily scaled points of one task and activation."""
    lazy = sorted((r for r in rows if _is_lazy(r)), key=lambda r: (r["n_neurons"], r["seed"], r["alpha"]))
    if not lazy:
        return ""
    optimum = {r["n_neurons"]: r["risk"] for r in rows if r["kind"] == "theory" and r["regime"] == "nn"}
    imgs = []
    for (n, seed) in dict.fromkeys((r["n_neurons"], r["seed"]) for r in lazy):
        mine = [r for r in lazy if r["n_neurons"] == n and r["seed"] == seed]
        with paper_style():
            fig, (ax, ax_w) = new_figure(ncols=2)
            plot_risk_vs_alpha(ax, [r["alpha"] for r in mine], [r["risk"] for r in mine], n,
                               optimum=optimum.get(n))
            ax.set_title(f"N = {n}, seed {seed}")
            plot_weight_change_vs_alpha(ax_w, [r["alpha"] for r in mine],
                                        [r.get("weight_change", float("nan")) for r in mine])
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight", dpi=130)
        import matplotlib.pyplot as plt

        plt.close(fig)
        imgs.append(f"<img alt='lazy scaling, N = {n}' "
                    f"src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}'>")
    table = _table(["N", "seed", "α", "SGD risk", "‖W − W0‖/‖W0‖", "NN optimum"],
                   [[str(r["n_neurons"]), _esc(r["seed"]), f"{float(r['alpha']):g}", _fmt(r["risk"]),
                     _fmt(r.get("weight_change"), 4), _fmt(optimum.get(r["n_neurons"]))] for r in lazy])
    return ("<h3>Lazy scaling: the NN trained as c + α(h(θ) − h(θ0))</h3><p class='note'>Large α: "
            "the network stays at its linearisation (NT + second layer); small α: it learns "
            "features.</p>" + "".join(imgs) + table)


def _stat_cell(stats_by_n, n) -> str:
    s = stats_by_n.get(n)
    if s is None:
        return "–"
    _, mean, sd, count = s
    return _fmt(mean) + (f" ± {_fmt(sd)} <span class='note'>({count})</span>" if count > 1 else "")


def _comparison(rows) -> str:
    """Theory vs exact vs SGD, one table row per (regime, N)."""
    out = []
    present = {r["regime"] for r in rows}
    for regime in [g for g in REGIME_STYLE if g in present] + sorted(present - set(REGIME_STYLE)):
        stats = {k: {s[0]: s for s in seed_stats(rows, regime, k)} for k in KINDS}
        for n in sorted(set().union(*[set(v) for v in stats.values()])):
            th, ex, sg = (stats[k].get(n) for k in KINDS)
            gap_te = _fmt(ex[1] - th[1], 4) if th and ex else "–"
            gap_se = _fmt(sg[1] - ex[1], 4) if sg and ex else "–"
            out.append([regime.upper(), str(n), _stat_cell(stats["theory"], n),
                        _stat_cell(stats["exact"], n), _stat_cell(stats["sgd"], n), gap_te, gap_se])
    return _table(["regime", "N", "theory", "exact", "SGD", "exact − theory", "SGD − exact"],
                  out, left=(0,))


def render_report(records, runs, source: str) -> str:
    """The HTML text of the report for store ``records`` and ``runs``."""
    rows = tidy_rows(records)
    by_key = {r["key"]: r for r in records}
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["task"], r["task_params"], r["activation"], r["d"]), []).append(r)
    parts = [f"<h1>lazytrain report</h1><p class='note'>{len(rows)} points from "
             f"<code>{_esc(source)}</code>; generated {_dt.datetime.now().isoformat(timespec='seconds')} "
             f"by lazytrain {_esc(__version__)}. Risks are normalised, R/R0 (R0: risk of the best "
             "constant predictor). Exact and SGD values with several seeds: mean ± standard "
             "deviation across seeds (number of seeds in brackets).</p>"]
    for (task, params, activation, d), group in groups.items():
        title = f"{task}: {params}, σ = {activation}"
        lazy = _lazy_section(group)
        mine = [r for r in group if not _is_lazy(r)]
        png = _figure_png(mine, f"{params}\nσ = {activation}", d)
        curves = _curves_png([by_key[r["key"]] for r in mine], f"{params}, σ = {activation}")
        imgs = "".join(f"<img alt='{_esc(title)}' src='data:image/png;base64,{p}'>"
                       for p in (png, curves) if p)
        parts.append(f"<h2>{_esc(title)}</h2>{imgs}"
                     f"<h3>Theory, exact and SGD</h3>{_comparison(mine)}{lazy}")
    parts.append("<h2>Runs</h2>" + _table(
        ["run", "started (UTC)", "spec", "executor", "workers", "version", "git commit", "host"],
        [[_esc(r["run_id"]), _esc(r["started_at"]), _esc(r["spec_name"]), _esc(r["executor"]),
          _esc(r["workers"] or ""), _esc(r["package_version"]),
          f"<span class='mono'>{_esc(r['git_commit'] or '–')}</span>", _esc(r["host"])]
         for r in runs], left=(2, 3, 6, 7)))
    prov = []
    for r in rows:
        rec = by_key[r["key"]]
        prov.append([f"<span class='mono' title='{_esc(rec['key'])}'>{_esc(rec['key'][:12])}</span>",
                     _esc(rec["task_params"]), _esc(rec["kind"]), _esc(rec["regime"]),
                     _esc(rec["activation"]), _esc(rec["n_neurons"]), _esc(r["seed"]),
                     _fmt(rec["risk"], 6), _esc(rec["run_id"]), _esc(rec["package_version"]),
                     f"<span class='mono'>{_esc((rec['git_commit'] or '–')[:12])}</span>",
                     _esc(rec["device"]), _esc(rec["host"]), _fmt(rec["wall_s"], 3),
                     _esc(rec["finished_at"])])
    parts.append(f"<h2>Provenance of every point</h2><details><summary>{len(prov)} points "
                 "(key = SHA-256 of everything that determines the value)</summary>" + _table(
                     ["key", "task", "kind", "regime", "σ", "N", "seed", "risk", "run", "version",
                      "git", "device", "host", "wall (s)", "finished (UTC)"],
                     prov, left=(0, 1, 2, 3, 4, 10, 11, 12, 14)) + "</details>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>lazytrain report</title><style>{_CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_report(directory, output=None) -> Path:
    """Write the HTML report of ``directory``'s store to ``output`` (default DIR/report.html)."""
    with ResultStore.open(directory) as store:
        records, runs = store.records(), store.runs()
    path = Path(output) if output else Path(directory) / "report.html"
    atomic_write_text(path, render_report(records, runs, str(directory)))
    return path
