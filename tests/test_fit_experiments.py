"""The ``fit`` kind: specs, point identity, computation through the experiment machinery."""

import pytest

from lazytrain import QuadraticTarget, fit, random_weights
from lazytrain.experiments import SpecError, compute_point, expand, preset, validate_spec
from lazytrain.fitting import fit_ridges

BASE = {"task": {"type": "paper", "d": 8, "seed": 100}, "regimes": ["rf", "nt"], "activations": ["relu"],
        "n_neurons": [4, 8], "seeds": [0, 1], "kinds": ["fit"],
        "fit": {"n_samples": [30, 60], "ridges": [1e-3, "tuned"], "ridge_grid": [1e-4, 1e-2]}}


def test_fit_points_carry_n_samples_and_ridge_in_their_identity():
    points = expand(validate_spec(BASE))
    # regimes × N × n_samples × ridges × seeds
    assert len(points) == 2 * 2 * 2 * 2 * 2
    assert len({p.key for p in points}) == len(points)
    p = points[0]
    ident = p.identity()
    assert ident["kind"] == "fit" and ident["training"]["n_samples"] in (30, 60)
    assert ident["training"]["ridge"] in (1e-3, "tuned")
    tuned = [q for q in points if q.training_options["ridge"] == "tuned"]
    assert all(q.training_options["ridge_grid"] == [1e-4, 1e-2] for q in tuned)
    # changing only the ridge or only n changes the key; the spec's name does not
    other = expand(validate_spec({**BASE, "name": "other"}))
    assert {q.key for q in other} == {q.key for q in points}
    moved = expand(validate_spec({**BASE, "fit": {**BASE["fit"], "ridges": [2e-3, "tuned"]}}))
    assert len({q.key for q in moved} & {q.key for q in points}) == len(points) // 2


def test_kernel_regimes_and_per_regime_grids():
    spec = validate_spec({**BASE, "fit": {**BASE["fit"], "regimes": ["rf", "nt_kernel"],
                                          "n_neurons": {"rf": [3]}}})
    points = expand(spec)
    assert {(p.regime, p.n_neurons) for p in points} == {("rf", 3), ("nt_kernel", 0)}


@pytest.mark.parametrize("update, expected", [
    ({"fit": None}, "[fit] table"),
    ({"kinds": ["exact"]}, "[fit] table"),
    ({"fit": {"n_samples": [0]}}, "fit.n_samples.0"),
    ({"fit": {"n_samples": [10], "ridges": [-1.0]}}, "fit.ridges.0"),
    ({"fit": {"n_samples": [10], "regimes": ["nn"]}}, "fit.regimes.0"),
    ({"fit": {"n_samples": [10], "colour": 1}}, "unknown field"),
])
def test_invalid_fit_settings_are_named(update, expected):
    with pytest.raises(SpecError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        validate_spec({**BASE, **update})


def test_compute_point_equals_a_direct_fit():
    points = expand(validate_spec(BASE))
    task = QuadraticTarget.paper(d=8, seed=100)
    for p in (points[0], [q for q in points if q.training_options["ridge"] == "tuned"][-1]):
        got = compute_point(p, pin=False)
        opts = p.training_options
        W = random_weights(8, p.n_neurons, seed=p.seed)
        if opts["ridge"] == "tuned":
            want = min(r.risk for r in fit_ridges(task, p.regime, W, opts["n_samples"],
                                                  opts["ridge_grid"], "relu", seed=p.seed))
        else:
            want = fit(task, p.regime, W, opts["n_samples"], ridge=opts["ridge"], activation="relu",
                       seed=p.seed).risk
        assert got["risk"] == pytest.approx(want, rel=1e-12)
        assert got["extra"]["n_samples"] == opts["n_samples"]


def test_fig6_presets_validate():
    for name in ("fig6", "fig6-samples", "fig6-theory"):
        for quick in (True, False):
            spec = preset(name, quick=quick)
            assert "fit" in spec.kinds and expand(spec)


def test_reproduce_fig6_quick(quick_figure, drawn):
    """The quick Figure 6 end to end: files written, every panel labelled, peaks where they belong."""
    import csv

    tmp_path = quick_figure("fig6")
    assert all((tmp_path / f"fig6.{ext}").stat().st_size > 1000 for ext in ("csv", "png", "pdf"))
    assert all(drawn["fig6"]["ylabels"]) and len(drawn["fig6"]["ylabels"]) == 3  # every panel
    rows = list(csv.DictReader(open(tmp_path / "fig6.csv")))

    def mean(regime, N, n, ridge):
        v = [float(r["risk"]) for r in rows if r["regime"] == regime and int(r["n_neurons"]) == N
             and int(r["n_samples"]) == n and r["ridge_setting"] == ridge]
        return sum(v) / len(v)

    # fig6-quick: d = 20, n = 160: RF peak at N = 160, NT at N = 8
    assert mean("rf", 160, 160, "1e-08") > 2 * mean("rf", 640, 160, "1e-08")
    assert mean("nt", 8, 160, "1e-08") > 2 * mean("nt", 32, 160, "1e-08")
    assert mean("rf", 160, 160, "tuned") < mean("rf", 80, 160, "tuned") * 1.1


def test_fit_points_run_store_and_report(tmp_path):
    from lazytrain.experiments import ResultStore, run_spec, tidy_rows
    from lazytrain.report import write_report

    spec = validate_spec({**BASE, "regimes": ["rf"], "n_neurons": [4], "seeds": [0],
                          "fit": {"n_samples": [30], "ridges": [1e-3]}})
    run_spec(spec, tmp_path, workers=1, progress=False)
    with ResultStore.open(tmp_path) as store:
        rows = tidy_rows(store.records())
    assert len(rows) == 1 and rows[0]["kind"] == "fit" and rows[0]["n_samples"] == 30
    assert rows[0]["ridge"] == 1e-3 and 0 <= rows[0]["train_risk"]
    html = write_report(tmp_path).read_text()
    assert "fitted on n samples" in html and "1.0e-03" not in html


def test_a_fit_spec_too_large_for_memory_is_refused_naming_n_samples():
    with pytest.raises(SpecError, match=r"fit\.n_samples: the fit point at N = 8"):
        validate_spec({**BASE, "fit": {"n_samples": [10**10]}})
