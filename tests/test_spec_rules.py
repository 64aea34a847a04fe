"""Issue 17 E: specs are strictly typed and bounded, one rule for points that cannot be computed
(left out, listed before the run and in the report), defaults written out make no new points,
and errors say what is wrong (with the close match of an unknown field)."""

import pytest
from click.testing import CliRunner

from lazytrain.cli import main
from lazytrain.experiments import SpecError, expand, validate_spec
from lazytrain.reproduce import fig5_specs

BASE = {"name": "rules", "regimes": ["rf", "nn"], "n_neurons": [4], "kinds": ["sgd"],
        "task": {"type": "paper", "d": 6}, "training": {"steps": 10}}
FIT = {**BASE, "regimes": ["rf", "nt"], "kinds": ["fit"], "fit": {"n_samples": [10]}}


def _error(data) -> str:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    return str(info.value)


@pytest.mark.parametrize("fit, field, got", [
    ({"n_samples": [True]}, "fit.n_samples.0", "True"),
    ({"n_samples": [10.0]}, "fit.n_samples.0", "10.0"),
    ({"n_samples": [10], "ridges": ["0.1"]}, "fit.ridges.0", "'0.1'"),
    ({"n_samples": [10], "second_layer": "yes"}, "fit.second_layer", "'yes'"),
    ({"n_samples": [10], "ridge_grid": [True]}, "fit.ridge_grid.0", "True"),
])
def test_the_fit_table_is_strictly_typed(fit, field, got):
    msg = _error({**FIT, "fit": fit})
    assert field in msg and f"(got {got})" in msg


def test_an_impossible_fit_is_refused_before_a_store_is_created(tmp_path):
    spec = tmp_path / "fit.toml"
    spec.write_text('name = "fit"\nregimes = ["rf"]\nn_neurons = [4]\nkinds = ["fit"]\n'
                    '[task]\ntype = "paper"\nd = 6\n[fit]\nn_samples = [10]\nsecond_layer = true\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(spec), "--out", str(out)])
    assert result.exit_code != 0 and not out.exists()
    assert "second_layer=True applies to the NT regimes only" in result.output
    assert "no other point of the spec can" in result.output
    # with NT beside it, the RF fit points are left out and listed; the NT ones run
    both = validate_spec({**FIT, "fit": {"n_samples": [10], "second_layer": True}})
    assert [(u["kind"], u["regime"]) for u in both.unavailable()] == [("fit", "rf")]
    assert {p.regime for p in expand(both)} == {"nt"}


def test_what_cannot_be_computed_is_left_out_and_listed_everywhere(tmp_path):
    """NT theory does not cover hermite23 against a target with a degree-1 part (its b₁ = 0): those
    points are left out and listed, like the NN theory of ReLU, instead of refusing the spec."""
    data = {"name": "hermite", "regimes": ["rf", "nt", "nn"], "activations": ["relu", "hermite23"],
            "n_neurons": [10], "kinds": ["theory", "exact"],
            "task": {"type": "hermite", "d": 12, "coefficients": [[1.0, 1.0, 0.5]]}}
    spec = validate_spec(data)
    left_out = {(u["kind"], u["regime"], u["activation"]): u["reason"] for u in spec.unavailable()}
    assert "b₁ = 0" in left_out[("theory", "nt", "hermite23")]
    assert ("theory", "nn", "relu") in left_out and ("theory", "nt", "relu") not in left_out
    combos = {(p.kind, p.regime, p.activation) for p in expand(spec)}
    assert not combos & set(left_out)
    assert ("theory", "nt", "relu") in combos and ("exact", "nt", "hermite23") in combos
    # listed before the run, by the command line
    path = tmp_path / "h.toml"
    path.write_text('name = "hermite"\nregimes = ["nt"]\nactivations = ["relu", "hermite23"]\n'
                    'n_neurons = [10]\nkinds = ["theory"]\n[task]\ntype = "hermite"\nd = 12\n'
                    'coefficients = [[1.0, 1.0, 0.5]]\n')
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "hermite23" in result.output and "b₁ = 0" in result.output


def test_defaults_written_out_make_no_new_points():
    keys = sorted(p.key for p in expand(validate_spec(BASE)))
    assert sorted(p.key for p in expand(validate_spec({**BASE, "training": {"steps": 10, "a0": "signs"}}))) == keys
    rf = {**BASE, "regimes": ["rf"]}
    assert (sorted(p.key for p in expand(validate_spec({**rf, "training": {"steps": 10, "schedule": "rf"}})))
            == sorted(p.key for p in expand(validate_spec(rf))))
    # a schedule that is not the default still makes its own points
    assert (sorted(p.key for p in expand(validate_spec({**rf, "training": {"steps": 10, "schedule": "constant"}})))
            != sorted(p.key for p in expand(validate_spec(rf))))


def test_a0_without_alpha_on_the_mean_field_nn_is_refused():
    nn = {**BASE, "regimes": ["nn"]}
    msg = _error({**nn, "training": {"steps": 10, "a0": "ones"}})
    assert "training.a0 = 'ones' has no effect here" in msg and "training.alpha" in msg
    validate_spec({**nn, "training": {"steps": 10, "a0": "ones", "alpha": 10.0}})
    validate_spec({**BASE, "training": {"steps": 10, "a0": "ones"}})  # it starts the RF a_i
    # Figure 5 sets a0 with each α
    assert all(s.training.a0 == "ones" and s.training.alpha for s in fig5_specs(quick=True))


def test_an_unknown_field_suggests_the_close_match():
    assert "regime: unknown field; did you mean 'regimes'?" in _error({**BASE, "regime": ["rf"]})
    assert "training.batchsize: unknown field; did you mean 'batch_size'?" in _error(
        {**BASE, "training": {"batchsize": 10}})
    assert "did you mean" not in _error({**BASE, "colour": "red"})


@pytest.mark.parametrize("update, expected", [
    ({"training": {"lr": 1e300}}, "training.lr: Input should be less than or equal to 1000000"),
    ({"training": {"groups": 1_000_000}}, "training.groups: Input should be less than or equal to 10000"),
    ({"name": "x" * 100_000}, "name: String should have at most 200 characters"),
    ({"training": {"steps": 10**14}}, "training.steps: the sgd point"),
])
def test_bounds_are_checked_up_front(update, expected):
    msg = _error({**BASE, **update})
    assert expected in msg and len(msg) < 1000
    if "steps" in str(update):
        assert "use fewer steps" in msg and "batch_size" not in msg
