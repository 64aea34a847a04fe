"""Figure 4 (issue 9): the staircase target, its preset, and what the figure must show."""

import csv
import math

import numpy as np
import pytest
from click.testing import CliRunner

from lazytrain.activations import get_activation
from lazytrain.cli import main
from lazytrain.exact import exact_risk
from lazytrain.exact.degrees import degree_risks
from lazytrain.experiments.presets import (STAIRCASE_DRAWS, STAIRCASE_K, STAIRCASE_RHOS, preset,
                                           staircase_dimensions, staircase_specs)
from lazytrain.weights import random_weights


def _task(d):
    spec = preset("fig4").with_updates(task={**preset("fig4").task.model_dump(mode="json"), "d": d})
    return spec.task.build()


def test_staircase_target_is_half_degree_2_half_degree_3_and_a_network_of_k_neurons():
    task = preset("fig4").task.build()
    assert task.r0 == pytest.approx(1.0, abs=1e-12)
    shares = task.degree_shares()
    assert shares[2] == pytest.approx(0.5, abs=1e-12) and shares[3] == pytest.approx(0.5, abs=1e-12)
    # f* = Σ_j σ(⟨u_j, x⟩)/√(2k) with σ = h₂ + h₃: an NN with k neurons fits it exactly
    x = np.random.default_rng(0).standard_normal((1000, task.d))
    sigma = get_activation("hermite23")
    net = sigma(x @ task.directions.T).sum(axis=1) / math.sqrt(2 * STAIRCASE_K)
    np.testing.assert_allclose(task.target(x), net, atol=1e-12)


def test_fig4_presets_cover_the_issue_ranges():
    left = preset("fig4")
    d = left.task.d
    assert 30 <= d <= 60
    grid = left.neurons()
    assert min(grid) <= 0.1 * d + 1 and max(grid) > d * d / 2
    assert min(left.neurons("sgd")) <= STAIRCASE_K and max(left.neurons("sgd")) >= 2 * STAIRCASE_K
    quick = preset("fig4", quick=True)
    assert quick.task.d < d
    specs = staircase_specs()
    assert [s.task.d for s in specs] == staircase_dimensions()
    assert all(len(s.seeds) >= 5 for s in specs)


def test_nt_degree3_risk_grows_with_d_at_rho_1():
    """At ρ = 1, the mean over ≥ 5 draws of the degree-3 risk NT leaves is larger at the largest
    plotted d than at the smallest (the figure's right panel)."""
    act = get_activation("hermite23")
    ds = staircase_dimensions()
    means = {}
    for d in (ds[0], ds[-1]):
        task = _task(d)
        vals = [degree_risks(task, "nt", random_weights(d, d, seed=s), act)["by_degree"][3]
                for s in range(STAIRCASE_DRAWS)]
        means[d] = (np.mean(vals), np.std(vals, ddof=1) / math.sqrt(len(vals)))
    (m0, se0), (m1, se1) = means[ds[0]], means[ds[-1]]
    assert m1 > m0 + 2 * math.hypot(se0, se1), means


@pytest.mark.slow
def test_sgd_nn_beats_half_of_nt_at_d40():
    """At d = 40, NN trained by SGD (the preset's settings) at N = 2k and 4k ends below half of
    NT's exact risk at the same N."""
    from lazytrain.train import train_sweep

    spec = preset("fig4")
    task = spec.task.build()
    assert task.d == 40
    widths = [2 * STAIRCASE_K, 4 * STAIRCASE_K]
    opts = spec.training.train_options()
    results = train_sweep(task, "nn", widths, activation="hermite23", seed=0, steps=opts["steps"],
                          lr=opts["lr"], batch_size=opts["batch_size"])
    for n, res in zip(widths, results):
        nt = exact_risk(task, "nt", random_weights(task.d, n, seed=0), "hermite23")
        assert res.risk + 3 * res.risk_se < nt / 2, (n, res.risk, nt)


def test_reproduce_fig4_quick_writes_figure_and_csvs(quick_figure, drawn):
    tmp_path = quick_figure("fig4")
    # the left panel's legend is below the figure (beside the data it hid the NN at N = 4)
    assert drawn["fig4"]["axes_legends"][0] is False and "NN" in drawn["fig4"]["figure_legends"][0]
    # the two d → ∞ lines coincide: their dashes interleave, so both stay visible
    limits = [dash for label, dash in drawn["fig4"]["lines"][1] if label.startswith("theory d → ∞")]
    assert len(limits) == 2 and limits[0][1] == limits[1][1] and limits[0][0] != limits[1][0]
    for name in ("fig4.png", "fig4.pdf", "fig4.csv", "fig4_right.csv"):
        assert (tmp_path / name).stat().st_size > 0
    with open(tmp_path / "fig4.csv") as fh:
        rows = list(csv.DictReader(fh))
    kinds = {(r["regime"], r["kind"]) for r in rows}
    assert {("rf", "exact"), ("nt", "exact"), ("nn", "sgd"), ("rf", "theory"), ("nt", "theory")} <= kinds
    exact = [r for r in rows if r["kind"] == "exact"]
    for r in exact:  # the per-degree columns add up to the risk (nothing above degree 3 for h₂ + h₃)
        parts = sum(float(r[f"risk_deg{ell}"]) for ell in (1, 2, 3)) + float(r["risk_above"])
        assert parts == pytest.approx(float(r["risk"]), abs=1e-6)
    with open(tmp_path / "fig4_right.csv") as fh:
        right = list(csv.DictReader(fh))
    assert {int(r["d"]) for r in right} == set(staircase_dimensions(quick=True))
    # the report shows the risk left in each degree of the exact fits
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Risk left in each Hermite degree" in (tmp_path / "report.html").read_text()


def _degree3_means(dims, rhos):
    act = get_activation("hermite23")
    out = {}
    for d in dims:
        task = _task(d)
        for rho in rhos:
            vals = [degree_risks(task, "nt", random_weights(d, rho * d, seed=s), act)["by_degree"][3]
                    for s in range(STAIRCASE_DRAWS)]
            out[d, rho] = float(np.mean(vals))
    return out


def _check_finite_d(means):
    from lazytrain.theory.hermite import degree_theory

    act = get_activation("hermite23")
    for (d, rho), mean in means.items():
        th = degree_theory(_task(d), "nt", rho * d, act, finite_d=True)["by_degree"][3]
        limit = degree_theory(_task(d), "nt", rho * d, act)["by_degree"][3]
        assert abs(th - mean) < 0.02, (d, rho, th, mean)
        assert mean < limit - 0.01  # the finite-d effect is real: the limit alone would miss it


def test_finite_d_degree3_formula_matches_exact_means_small_d():
    """The first-order finite-d formula against the exact mean over the figure's 5 draws (d = 20, 30)."""
    _check_finite_d(_degree3_means([20, 30], STAIRCASE_RHOS))


@pytest.mark.slow
def test_finite_d_degree3_formula_matches_exact_means_every_plotted_d():
    """Within 0.02 of the exact mean (5 draws, the figure's seeds) at every d of the right panel."""
    _check_finite_d(_degree3_means(staircase_dimensions(), STAIRCASE_RHOS))


def test_finite_d_needs_a_cubic_activation():
    from lazytrain.theory.hermite import degree_theory

    with pytest.raises(ValueError, match="degree ≤ 3"):
        degree_theory(_task(20), "nt", 20, get_activation("tanh"), finite_d=True)
    with pytest.raises(ValueError, match="regime 'nt' only"):
        degree_theory(_task(20), "rf", 20, get_activation("hermite23"), finite_d=True)
