"""Figure 5 (lazy to rich): its specs, its points' identity and the figure itself."""

import csv
import json

import pytest
from click.testing import CliRunner

from lazytrain.cli import main
from lazytrain.experiments import SpecError, expand, preset
from lazytrain.experiments.presets import FIG5_ALPHAS
from lazytrain.experiments.spec import validate_spec
from lazytrain.reproduce import fig5, fig5_specs


def test_fig5_runs_the_preset_once_per_alpha_with_distinct_sgd_points():
    specs = fig5_specs(quick=True)
    assert [s.training.alpha for s in specs] == list(FIG5_ALPHAS)
    sgd = [p for s in specs for p in expand(s) if p.kind == "sgd"]
    assert len({p.key for p in sgd}) == len(FIG5_ALPHAS)
    assert sorted(p.training_options["alpha"] for p in sgd) == sorted(FIG5_ALPHAS)
    assert {p.training_options["a0"] for p in sgd} == {"ones"}
    theory = {p.key for s in specs for p in expand(s) if p.kind == "theory"}
    assert len(theory) == 1  # the NN optimum: one point shared by every α


def test_alpha_at_its_default_leaves_sgd_point_keys_unchanged():
    """Specs written before training.alpha existed keep their stored SGD points."""
    spec = preset("fig1", quick=True)
    for p in expand(spec):
        if p.kind == "sgd":
            assert "alpha" not in json.loads(p.training) and "a0" not in json.loads(p.training)


def test_alpha_needs_the_nn_regime():
    spec = preset("fig1", quick=True).model_dump(mode="json")
    spec["training"] = {**spec["training"], "alpha": 10.0, "regimes": ["nn", "nt"]}
    with pytest.raises(SpecError, match="training.alpha"):
        validate_spec(spec)


def test_fig5_options_are_fig5_only(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "fig1", "--quick", "--task", "mixture",
                                       "--out", str(tmp_path)])
    assert result.exit_code != 0 and "fig5" in result.output


def test_fig5_quick_goes_from_the_nn_optimum_to_the_linearised_model(tmp_path):
    paths = fig5(tmp_path, quick=True, alphas=(0.3, 1000.0), progress=False)
    assert {p.name for p in paths} == {"fig5.csv", "fig5.png", "fig5.pdf"}
    assert all(p.stat().st_size > 1000 for p in paths if p.suffix != ".csv")
    rows = list(csv.DictReader(open(tmp_path / "fig5.csv")))
    lazy_limit = float(next(r["risk"] for r in rows if r["kind"] == "exact" and r["regime"] == "nt"))
    optimum = float(next(r["risk"] for r in rows if r["kind"] == "theory"))
    sgd = {float(r["alpha"]): (float(r["risk"]), float(r["weight_change"])) for r in rows if r["kind"] == "sgd"}
    assert abs(sgd[1000.0][0] - lazy_limit) <= max(0.02, 0.1 * lazy_limit)
    assert abs(sgd[0.3][0] - optimum) <= max(0.03, 0.5 * optimum)  # 6000 steps: near, not at
    assert sgd[1000.0][1] < 0.01 < 1.0 < sgd[0.3][1]
    # the report shows the lazy points in their own section, not averaged into the SGD column
    from lazytrain.report import write_report

    html = write_report(tmp_path).read_text()
    assert "Lazy scaling" in html and html.count("alt='lazy scaling, N = 10'") == 1
    # no risk-against-N section for the one theory point; the α section has the linearised
    # model's risk (the report computes it as the figure does: the CSV's value)
    assert "<h3>Theory, exact and SGD</h3>" not in html
    assert f"{sgd[0.3][0]:.4f}" in html and f"<td class=\"\">{lazy_limit:.4f}</td>" in html
