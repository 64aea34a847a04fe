import csv

import pytest
from click.testing import CliRunner

from lazytrain.cli import main
from lazytrain.records import COLUMNS


def reproduce_quick(fig, out):
    """Run ``lazytrain reproduce FIG --quick``; check PNG, PDF and tidy CSV; return the rows."""
    result = CliRunner().invoke(main, ["reproduce", fig, "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for ext in ("png", "pdf", "csv"):
        assert (out / f"{fig}.{ext}").stat().st_size > 1000
    rows = list(csv.DictReader(open(out / f"{fig}.csv")))
    assert tuple(rows[0])[: len(COLUMNS)] == COLUMNS
    return rows


def test_reproduce_fig1_quick_writes_figure_and_tidy_csv(tmp_path):
    rows = reproduce_quick("fig1", tmp_path)
    kinds = {(r["regime"], r["kind"]) for r in rows}
    assert {(g, k) for g in ("rf", "nt", "nn") for k in ("theory", "exact")} <= kinds
    for r in rows:
        assert 0.0 <= float(r["risk"]) <= 1.0
        assert float(r["rho"]) == int(r["n_neurons"]) / int(r["d"])
    # NN trained by SGD beside the exact points, close to Theorem 3 even in the quick run
    theory = {int(r["n_neurons"]): float(r["risk"]) for r in rows if r["regime"] == "nn" and r["kind"] == "theory"}
    sgd = [r for r in rows if r["kind"] == "sgd"]
    assert sgd and {r["regime"] for r in sgd} == {"nn"}
    for r in sgd:
        n = int(r["n_neurons"])
        if n in theory:
            assert abs(float(r["risk"]) - theory[n]) <= max(0.03, 0.15 * theory[n]), r
        assert int(r["samples"]) > 0
    curves = list(csv.DictReader(open(tmp_path / "fig1_curves.csv")))
    assert len({r["n_neurons"] for r in curves}) >= 3
    first = [float(r["risk"]) for r in curves if int(r["samples"]) == 0]
    assert all(abs(x - 1.0) < 1e-6 for x in first)  # every curve starts at the trivial risk


def test_reproduce_rejects_unknown_figure(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "fig9", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "fig9" in result.output


@pytest.fixture
def one_torch_thread():
    """Quick SGD at d = 60 on the shared 2-core machine: 7.5 s of CPU with one torch thread,
    56 s with two (measured; intra-op threading of small products under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_reproduce_fig3_quick_relu_exact_and_sgd(tmp_path, one_torch_thread):
    rows = reproduce_quick("fig3", tmp_path)
    assert {r["activation"] for r in rows} == {"relu"}
    exact = {(r["regime"], int(r["n_neurons"])): float(r["risk"]) for r in rows if r["kind"] == "exact"}
    ns = sorted({n for _, n in exact})
    d = int(rows[0]["d"])
    assert ns[-1] >= 2 * d
    for n in ns:  # NT beats RF at every N on this target (measured at d = 60 and 450, not a theorem)
        assert 0 < exact[("nt", n)] < exact[("rf", n)] <= 1
    sgd = {int(r["n_neurons"]): (float(r["risk"]), float(r["risk_se"])) for r in rows if r["kind"] == "sgd"}
    assert {r["regime"] for r in rows if r["kind"] == "sgd"} == {"nn"}
    assert set(sgd) <= set(ns) and max(sgd) >= 2 * d
    # the poster's point: below N = d the trained ReLU network beats the exact NT optimum by far
    for n, (risk, se) in sgd.items():
        if n < d:
            assert risk + 4 * se < exact[("nt", n)] - 0.1, (n, risk, exact[("nt", n)])


def test_every_figure_has_its_specs():
    """`reproduce figN` and `reproduce all` ask figure_specs for every figure: Figure 5 runs one spec
    per α, Figure 6 its three presets (a second definition once shadowed this and broke both)."""
    from lazytrain.experiments.presets import FIG5_ALPHAS
    from lazytrain.reproduce import FIGURES, figure_specs

    for name in FIGURES:
        specs = figure_specs(name, True, 0)
        assert specs and all(s.d > 0 for s in specs), name
    assert [s.name for s in figure_specs("fig6", True, 0)] == ["fig6-quick", "fig6-samples-quick",
                                                               "fig6-theory-quick"]
    assert [s.training.alpha for s in figure_specs("fig5", True, 0)] == list(FIG5_ALPHAS)
