"""Specs, points and the result store (no execution here; see test_sweeps.py)."""

import hashlib
import json
import sqlite3

import numpy as np
import pytest

import lazytrain.tasks
from lazytrain import QuadraticTarget, exact_risk, random_weights
from lazytrain.experiments import (ResultStore, SpecError, StoreError, compute_point, expand,
                                   load_spec, preset, validate_spec)
from lazytrain.experiments import kinds as kinds_module
from lazytrain.experiments.tasks import SpectrumTarget

BASE = {"task": {"type": "paper", "d": 20, "seed": 100}, "n_neurons": [5, 10]}


def spec_error(data) -> str:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    return str(info.value)


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("update, expected", [
    ({"regimes": ["rf", "xx"]}, ["regimes.1", "'rf', 'nt', 'nn' or 'one-step'", "'xx'"]),
    ({"kinds": ["exact", "monte-carlo"]}, ["kinds.1", "'theory', 'exact', 'sgd' or 'fit'"]),
    ({"activations": ["sigmoid"]}, ["activations", "must be one of", "quadratic", "sigmoid"]),
    ({"seeds": [0, -1]}, ["seeds.1", "greater than or equal to 0", "-1"]),
    ({"n_neurons": [5, 0]}, ["n_neurons.1", "greater than 0"]),
    ({"n_neurons": [5, 5]}, ["n_neurons", "must not repeat", "[5]"]),
    ({"n_neurons": {"start": 5, "stop": 1}}, ["n_neurons", "stop >= start"]),
    ({"n_neurons": {"start": 5, "end": 10}}, ["n_neurons", "start, stop and optionally step"]),
    ({"n_neurons": None}, ["exactly one of n_neurons", "rho"]),
    ({"rho": [0.5]}, ["exactly one of n_neurons", "rho"]),
    ({"n_neurons": None, "rho": [0.01]}, ["rho: rho = 0.01 gives N = round(rho * d) = 0"]),
    ({"regimes": []}, ["regimes", "at least 1"]),
    ({"colour": "red"}, ["colour", "unknown field", "'regimes'", "'seeds'"]),
    ({"training": {"steps": 0}}, ["training.steps", "greater than 0"]),
    ({"training": {"dtype": "float16"}}, ["training.dtype", "'float32', 'float64' or 'bfloat16'"]),
    ({"training": {"learning_rate": 1}}, ["training.learning_rate", "unknown field", "'lr'"]),
    ({"training": {"lr_exponent": 0.5}}, ["training.lr_reference_n is required"]),
    ({"task": {"type": "sphere", "d": 3}}, ["task", "type must be one of",
                                            "['hermite', 'mixture', 'npy', 'paper', 'spectrum', 'spiked']", "'sphere'"]),
    ({"task": {"d": 3}}, ["task", "needs a type"]),
    ({"task": {"type": "paper", "d": -3}}, ["task.d", "greater than 0"]),
    ({"task": {"type": "paper", "dim": 3}}, ["task.dim", "unknown field", "['d', 'seed']"]),
    ({"task": {"type": "spectrum", "spectrum": "cauchy", "d": 5}},
     ["task.spectrum", "'exponential', 'uniform', 'power-law', 'low-rank' or 'traceless'"]),
    ({"task": {"type": "spectrum", "spectrum": "low-rank", "d": 5}}, ["rank is required"]),
    ({"task": {"type": "spectrum", "spectrum": "low-rank", "d": 5, "rank": 9}}, ["rank must be <= d"]),
    ({"name": "my run/1"}, ["name", "should match pattern"]),
    ({"task": {"type": "mixture", "d": 12, "frob2": 4.0}}, ["task: frob2 = 4 at d = 12", "(‖Δ‖op < 1): use frob2 < "]),
])
def test_invalid_specs_name_the_field_and_the_allowed_values(update, expected):
    message = spec_error({**BASE, **update})
    assert message.startswith("invalid experiment spec")
    for part in expected:
        assert part in message, (part, message)


def test_a_kind_or_task_missing_from_the_installation_is_named(monkeypatch):
    monkeypatch.setattr(kinds_module, "_train_function", lambda: None)
    assert "kinds: 'sgd' is not available" in spec_error({**BASE, "kinds": ["sgd"]})
    monkeypatch.delattr(lazytrain.tasks, "GaussianMixture", raising=False)
    message = spec_error({**BASE, "task": {"type": "mixture", "d": 10}})
    assert "task.type 'mixture' is not available" in message


def test_load_spec_from_toml_file_with_relative_npy_path(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    np.save(tmp_path / "B.npy", (A + A.T) / 2)
    (tmp_path / "sweep.toml").write_text(
        'regimes = ["nt"]\nrho = [0.5, 1.0]\nseeds = [1, 2]\n[task]\ntype = "npy"\npath = "B.npy"\n')
    spec = load_spec(tmp_path / "sweep.toml")
    assert spec.name == "sweep" and spec.d == 6 and spec.neurons() == [3, 6]
    assert spec.task.sha256 is not None  # pinned to the file's content


def test_load_spec_reports_files_toml_and_presets():
    with pytest.raises(SpecError, match=r"presets \['fig1', 'fig2', 'fig3', 'fig4', 'fig5', 'fig6', 'fig6-samples', "
                                        r"'fig6-theory', 'fig7', 'fig7-steps', 'fig8'\], got 'fig9'"):
        load_spec("fig9")
    with pytest.raises(SpecError, match="does not exist"):
        load_spec("nowhere.toml")


def test_load_spec_reports_bad_toml_and_quick_with_a_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("regimes = [rf\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="--quick applies to the presets only"):
        load_spec(bad, quick=True)


def test_npy_task_errors_name_the_path(tmp_path):
    message = spec_error({**BASE, "task": {"type": "npy", "path": str(tmp_path / "none.npy")}})
    assert "task.path: no such file" in message
    np.save(tmp_path / "v.npy", np.ones(3))
    message = spec_error({**BASE, "task": {"type": "npy", "path": str(tmp_path / "v.npy")}})
    assert "must hold a square numeric matrix" in message
    np.save(tmp_path / "asym.npy", np.array([[1.0, 2.0], [0.0, 1.0]]))
    message = spec_error({**BASE, "task": {"type": "npy", "path": str(tmp_path / "asym.npy")}})
    assert "task: B must be symmetric" in message


def test_presets_are_specs():
    spec = preset("fig1", quick=True)
    assert spec.d == 60 and spec.regimes == ["rf", "nt", "nn"] and max(spec.neurons()) == 120
    assert preset("fig1").d == 450
    assert load_spec("FIG1", quick=True) == spec


# ---------------------------------------------------------------------- spectra
def test_spectrum_recipes_give_the_stated_spectra():
    d = 50
    for name, check in [
        ("uniform", lambda lam: 0 <= lam.min() and lam.max() <= 2),
        ("power-law", lambda lam: np.allclose(np.sort(lam)[::-1], np.arange(1, d + 1) ** -2.0)),
        ("low-rank", lambda lam: np.count_nonzero(lam) == 7),
        ("exponential", lambda lam: lam.min() > 0),
        ("traceless", lambda lam: abs(lam.sum()) < 1e-9 and lam.min() < 0 < lam.max()),
    ]:
        recipe = SpectrumTarget(spectrum=name, d=d, seed=3, exponent=2.0, rank=7)
        task = recipe.build()
        lam = np.linalg.eigvalsh(task.B) * np.sqrt(d)
        assert check(lam), name
    rotated = SpectrumTarget(spectrum="exponential", d=d, seed=3, rotate=True).build()
    plain = SpectrumTarget(spectrum="exponential", d=d, seed=3).build()
    assert np.count_nonzero(rotated.B - np.diag(np.diag(rotated.B))) > 0
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(rotated.B)), np.sort(np.diag(plain.B)),
                               atol=1e-12)


# ---------------------------------------------------------------------- points
def test_points_expand_per_kind_and_seed_without_repeats():
    spec = validate_spec({**BASE, "seeds": [0, 1, 2], "kinds": ["theory", "exact"]})
    points = expand(spec)
    theory = [p for p in points if p.kind == "theory"]
    exact = [p for p in points if p.kind == "exact"]
    assert len(theory) == 3 * 2 and {p.seed for p in theory} == {None}
    assert len(exact) == 3 * 2 * 3
    assert len({p.key for p in points}) == len(points)


def test_point_key_depends_on_what_determines_the_value_only():
    a = {p.key: p for p in expand(validate_spec({**BASE, "name": "a", "seeds": [0, 1]}))}
    b = {p.key: p for p in expand(validate_spec({**BASE, "name": "b", "seeds": [1],
                                                 "n_neurons": [10, 5, 7]}))}
    shared = set(a) & set(b)
    # name and grid do not matter: the theory points at N = 5, 10 and the seed-1 exact points are shared
    assert len(shared) == 3 * 2 * 2
    assert all(a[k].seed in (None, 1) for k in shared)
    other_task = expand(validate_spec({**BASE, "task": {"type": "paper", "d": 20, "seed": 101}}))
    assert not {p.key for p in other_task} & set(a)


def test_point_key_is_stable_across_versions():
    """The key of a known point; a change here invalidates every stored result (bump POINT_SCHEMA)."""
    spec = validate_spec({**BASE, "regimes": ["nt"], "n_neurons": [5], "seeds": [3], "kinds": ["exact"]})
    (point,) = expand(spec)
    assert point.identity() == {"schema": 1, "task": {"type": "paper", "d": 20, "seed": 100},
                                "regime": "nt", "activation": "quadratic", "n_neurons": 5,
                                "kind": "exact", "seed": 3, "training": None}
    canonical = ('{"activation":"quadratic","kind":"exact","n_neurons":5,"regime":"nt","schema":1,'
                 '"seed":3,"task":{"d":20,"seed":100,"type":"paper"},"training":null}')
    assert point.key == hashlib.sha256(canonical.encode()).hexdigest()
    assert point.key == "28bd408c0288b153a6c4d9c1e688bc3da3fdf657280e95009fa5101e298a824a"


def test_npy_point_keys_follow_the_content_not_the_path(tmp_path):
    B = np.diag(np.arange(1.0, 7.0))
    for name in ("one.npy", "two.npy"):
        np.save(tmp_path / name, B)
    np.save(tmp_path / "three.npy", B * 2)

    def keys(name):
        spec = validate_spec({**BASE, "task": {"type": "npy", "path": str(tmp_path / name)},
                              "n_neurons": [2]})
        return {p.key for p in expand(spec)}

    assert keys("one.npy") == keys("two.npy")
    assert not keys("one.npy") & keys("three.npy")


def test_compute_point_matches_a_direct_computation():
    spec = validate_spec({**BASE, "regimes": ["rf"], "n_neurons": [7], "seeds": [4], "kinds": ["exact"]})
    (point,) = expand(spec)
    result = compute_point(point)
    direct = exact_risk(QuadraticTarget.paper(d=20, seed=100), "rf", random_weights(20, 7, seed=4))
    assert result["risk"] == direct
    assert result["key"] == point.key and result["wall_s"] >= 0 and result["package_version"]


# ---------------------------------------------------------------------- store
def _untouched(path, make):
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        ResultStore.open_or_create(path.parent)
    assert path.read_bytes() == before
    return str(info.value)


def test_foreign_or_corrupt_store_files_are_reported_not_overwritten(tmp_path):
    store = tmp_path / "a" / "results.sqlite"
    store.parent.mkdir()
    msg = _untouched(store, lambda p: p.write_text("my notes, not a database\n"))
    assert "not an SQLite database" in msg and "left untouched" in msg

    store = tmp_path / "b" / "results.sqlite"
    store.parent.mkdir()
    assert "empty" in _untouched(store, lambda p: p.write_bytes(b""))

    def foreign(p):
        conn = sqlite3.connect(p)
        conn.execute("CREATE TABLE invoices (id INTEGER)")
        conn.commit()
        conn.close()

    store = tmp_path / "c" / "results.sqlite"
    store.parent.mkdir()
    msg = _untouched(store, foreign)
    assert "SQLite database but not a lazytrain result store" in msg and "invoices" in msg

    def corrupt(p):  # a real store, then its pages overwritten with garbage
        ResultStore.open_or_create(p.parent).close()
        data = bytearray(p.read_bytes())
        data[100:] = b"\xde\xad\xbe\xef" * ((len(data) - 100) // 4)
        p.write_bytes(bytes(data))

    store = tmp_path / "d" / "results.sqlite"
    store.parent.mkdir()
    assert "corrupt" in _untouched(store, corrupt)


def test_out_path_that_is_a_file_or_a_directory_in_the_store_place(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        ResultStore.open_or_create(tmp_path / "file")
    (tmp_path / "d" / "results.sqlite").mkdir(parents=True)
    with pytest.raises(StoreError, match="not a regular file"):
        ResultStore.open_or_create(tmp_path / "d")
    with pytest.raises(StoreError, match="no result store"):
        ResultStore.open(tmp_path)
    with pytest.raises(StoreError, match="not a directory of lazytrain results"):
        ResultStore.open(tmp_path / "missing")


def test_store_round_trip_keeps_points_exactly_once(tmp_path):
    spec = validate_spec({**BASE, "kinds": ["exact"], "seeds": [0]})
    points = expand(spec)
    with ResultStore.open_or_create(tmp_path) as store, store.exclusive():
        run = store.begin_run(spec, "local", 1)
        store.add(points[0], compute_point(points[0]), run)
        with pytest.raises(sqlite3.IntegrityError):
            store.add(points[0], compute_point(points[0]), run)
        store.add(points[1], {**compute_point(points[1]), "risk": float("nan")}, run)
        assert len(store) == 2
        records = {r["key"]: r for r in store.records()}
    assert np.isnan(records[points[1].key]["risk"])
    rec = records[points[0].key]
    assert json.loads(rec["point_json"]) == points[0].identity()
    assert rec["run_id"] == run and rec["host"] and rec["device"].startswith("cpu")


def test_one_driver_at_a_time(tmp_path):
    with ResultStore.open_or_create(tmp_path) as a, ResultStore.open(tmp_path) as b:
        with a.exclusive():
            with pytest.raises(StoreError, match="another `lazytrain run`"):
                with b.exclusive():
                    pass
        with b.exclusive():  # released
            pass


# ---------------------------------------------------------------------- SGD groups
def test_cotrain_groups_balance_the_total_width():
    from lazytrain.experiments.points import cotrain_groups

    assert cotrain_groups([30, 10, 20], 1) == [(10, 20, 30)]
    assert cotrain_groups([30, 10, 20], 3) == cotrain_groups([30, 10, 20], 5) == [(10,), (20,), (30,)]
    fig3 = [30, 90, 150, 210, 300, 450, 660, 900]
    assert cotrain_groups(fig3, 2) == [(30, 150, 300, 900), (90, 210, 450, 660)]  # 1380 and 1410


def test_sgd_points_record_the_widths_trained_with_them():
    spec = validate_spec({**BASE, "kinds": ["sgd"], "regimes": ["nn"], "n_neurons": [4, 8, 12],
                          "seeds": [0, 1], "training": {"steps": 10, "groups": 2}})
    points = expand(spec)
    assert {p.n_neurons: p.cotrained for p in points} == {4: (4, 8), 8: (4, 8), 12: None}
    alone = expand(spec.with_updates(training={"steps": 10, "groups": 3}))
    # trained alone, a point is another point (equal only up to float rounding)
    assert not {p.key for p in points if p.cotrained} & {p.key for p in alone}
    assert {p.key for p in points if not p.cotrained} <= {p.key for p in alone}


def test_sgd_points_name_a_default_schedule_that_is_not_the_authors():
    """The NN's default schedule is not the authors' (stored NN values of the authors' schedule
    must not be reused): its name enters the NN points' identity; RF keeps the authors' and its keys."""
    from lazytrain.train import DEFAULT_SCHEDULE, SCHEDULES, train

    spec = validate_spec({**BASE, "kinds": ["sgd"], "regimes": ["rf", "nn"], "n_neurons": [4],
                          "seeds": [0], "training": {"steps": 20}})
    options = {p.regime: p.training_options for p in expand(spec)}
    assert DEFAULT_SCHEDULE["nn"] != "nn" and options["nn"]["schedule"] == DEFAULT_SCHEDULE["nn"]
    assert DEFAULT_SCHEDULE["rf"] == "rf" and "schedule" not in options["rf"]
    task = QuadraticTarget.paper(d=20)
    named = train(task, "nn", 4, **options["nn"])
    assert named.risk == train(task, "nn", 4, steps=20, lr=options["nn"]["lr"]).risk
    assert named.settings["schedule"] == SCHEDULES[DEFAULT_SCHEDULE["nn"]]


def test_a_spec_schedule_is_passed_to_training_and_bad_ones_are_named():
    """training.schedule overrides the default: it is in the key, and the value is the one train
    gives with that schedule (not the default's)."""
    from lazytrain.train import SCHEDULES, train

    def nn_point(training):
        spec = validate_spec({**BASE, "kinds": ["sgd"], "regimes": ["nn"], "n_neurons": [4],
                              "seeds": [0], "training": training})
        (p,) = [q for q in expand(spec) if q.regime == "nn"]
        return p

    default, pinned = nn_point({"steps": 200}), nn_point({"steps": 200, "schedule": "NN"})
    assert pinned.training_options["schedule"] == "nn" and default.key != pinned.key
    task = QuadraticTarget.paper(d=20)
    res = train(task, "nn", 4, **pinned.training_options)
    assert res.settings["schedule"] == SCHEDULES["nn"]
    assert res.risk != train(task, "nn", 4, **default.training_options).risk
    with pytest.raises(SpecError, match="training.schedule must be one of .*'anneal'.*got 'fast'"):
        nn_point({"schedule": "fast"})


def test_a_spec_offset_mult_is_passed_to_training_and_in_the_key_only_when_set():
    """training.offset_mult (η_c) reaches train: the point's value is train's with that η_c, not the
    default's; unset it is not part of the key (old points keep theirs). Figure 3 pins 10, the η_c
    its ReLU settings were measured with."""
    from lazytrain.experiments.presets import FIG3_OFFSET_MULT
    from lazytrain.train import DEFAULT_OFFSET_MULT, train

    def nn_point(training):
        spec = validate_spec({**BASE, "kinds": ["sgd"], "regimes": ["nn"], "n_neurons": [4],
                              "seeds": [0], "training": training})
        (p,) = [q for q in expand(spec) if q.regime == "nn"]
        return p

    default, pinned = nn_point({"steps": 200}), nn_point({"steps": 200, "offset_mult": 10.0})
    assert "offset_mult" not in default.training_options and pinned.training_options["offset_mult"] == 10.0
    assert default.key != pinned.key
    task = QuadraticTarget.paper(d=20)
    res = train(task, "nn", 4, **pinned.training_options)
    assert res.settings["offset_mult"] == 10.0 != DEFAULT_OFFSET_MULT
    assert res.risk == train(task, "nn", 4, steps=200, lr=pinned.training_options["lr"],
                             schedule=pinned.training_options["schedule"], offset_mult=10.0).risk
    assert res.risk != train(task, "nn", 4, **default.training_options).risk
    fig3 = [p for p in expand(preset("fig3", quick=True)) if p.kind == "sgd"]
    assert fig3 and all(p.training_options["offset_mult"] == FIG3_OFFSET_MULT == 10.0 for p in fig3)
    with pytest.raises(SpecError, match="training.offset_mult"):
        nn_point({"offset_mult": 0.0})
