"""One list of presets, figures and kinds, and docs that say what the code does (issue 17, G)."""

import inspect
import re
from pathlib import Path

from click.testing import CliRunner

import lazytrain as lt
from lazytrain.cli import main
from lazytrain.experiments import catalog
from lazytrain.experiments.kinds import KINDS
from lazytrain.experiments.presets import FIG5_ALPHAS, PRESETS, load_specs

ROOT = Path(__file__).resolve().parents[1]


def test_the_catalog_is_the_code():
    from lazytrain.reproduce import FIGURES

    assert catalog.PRESET_NAMES == tuple(PRESETS)
    assert tuple(catalog.FIGURE_PRESETS) == tuple(FIGURES)
    assert {p for ps in catalog.FIGURE_PRESETS.values() for p in ps} <= set(PRESETS)
    assert catalog.KIND_NAMES == tuple(KINDS)


def test_the_help_lists_every_preset_figure_and_kind():
    run = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    for name in catalog.PRESET_NAMES:
        assert re.search(rf"\b{name}\b", run), name
    reproduce = CliRunner().invoke(main, ["reproduce", "--help"]).output
    assert "{" + "|".join([*catalog.FIGURE_PRESETS, "all"]) + "}" in reproduce
    results = " ".join(CliRunner().invoke(main, ["results", "--help"]).output.split())
    assert f"kind ({', '.join(catalog.KIND_NAMES)})" in results  # 'fit' included


def test_the_docs_list_every_preset_and_activation():
    experiments = (ROOT / "docs" / "experiments.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in catalog.PRESET_NAMES:
        assert f"`{name}`" in experiments and f"`{name}`" in readme, name
    row = next(line for line in experiments.splitlines() if line.startswith("| `activations`"))
    from lazytrain.activations import BUILTIN

    assert len(BUILTIN) >= 9
    for name in BUILTIN:
        assert f"`{name}`" in row, name
    assert "`hermite23`" in row
    assert "no theory for the Hermite task" not in experiments


def test_run_fig5_runs_the_alpha_sweep_that_reproduce_draws():
    from lazytrain.reproduce import figure_specs

    specs = load_specs("fig5", quick=True)
    assert len(specs) == len(FIG5_ALPHAS)
    assert sorted(s.training.alpha for s in specs) == sorted(FIG5_ALPHAS)
    keys = lambda ss: sorted(p.key for s in ss for p in lt.experiments.expand(s))  # noqa: E731
    assert keys(specs) == keys(figure_specs("fig5", True, 0))
    assert [s.name for s in load_specs("fig6", quick=True)] == ["fig6-quick", "fig6-samples-quick",
                                                                 "fig6-theory-quick"]


def test_dir_lazytrain_shows_the_public_names_only():
    names = dir(lt)
    for private in ("sys", "types", "import_module", "_sys", "_EXPORTS"):
        assert private not in names
    assert {"train", "exact_risk", "QuadraticTarget", "__version__"} <= set(names)
    for name in names:
        if not name.startswith("__"):
            getattr(lt, name)  # every listed name resolves


def test_default_steps_takes_only_what_it_uses():
    from lazytrain.train import default_steps

    assert list(inspect.signature(default_steps).parameters) == ["method"]
    assert default_steps() == default_steps("sgd") > default_steps("flow")


def test_one_spelling_of_the_monte_carlo_risk_method():
    from lazytrain.experiments.results import tidy_rows

    src = "\n".join(p.read_text() for p in (ROOT / "src" / "lazytrain").rglob("*.py"))
    assert "'monte-carlo'" not in src and '"monte-carlo", ' not in src
    # a store written before keeps its points; the table shows the one spelling
    rec = {"key": "k", "task": "quadratic", "task_params": "p", "regime": "nn", "activation": "relu",
           "d": 4, "n_neurons": 2, "rho": 0.5, "kind": "sgd", "seed": 0, "risk": 0.5,
           "extra_json": '{"risk_method": "monte-carlo"}', "point_json": "{}"}
    assert tidy_rows([rec])[0]["risk_method"] == "monte_carlo"


def test_a_regime_drawn_without_a_line_has_no_line_in_the_legend():
    """Figure 3: NN is SGD markers only, so its legend entry is the marker alone (no line that no
    data uses); RF and NT have lines through their points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lazytrain.figures import plot_risk_vs_neurons

    rows = ([{"regime": "nn", "kind": "sgd", "n_neurons": n, "risk": 0.5, "seed": 0} for n in (4, 8)]
            + [{"regime": "rf", "kind": "exact", "n_neurons": n, "risk": 0.9, "seed": 0} for n in (4, 8)])
    fig, ax = plt.subplots()
    plot_risk_vs_neurons(ax, rows, curves={"rf": ([4, 8], [0.9, 0.9])})
    handles = dict(zip([t.get_text() for t in ax.get_legend().texts], ax.get_legend().legend_handles))
    plt.close(fig)
    assert handles["NN"].get_linestyle() == "None" and handles["RF"].get_linestyle() == "-"
