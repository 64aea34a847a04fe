"""Results you can trust when stores are reused, shared and pushed (issue 12).

One test (at least) per defect: settings in the point identity and the
table, escaped reports, memory limits up front, read-only stores, strict
spec validation, report robustness, self-contained store files, and the
newcomer papercuts.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lazytrain import GaussianMixture, QuadraticTarget, exact_risk, random_weights, theory_risk, train
from lazytrain.cli import main
from lazytrain.experiments import (ResultStore, SpecError, compute_point, expand, run_spec, validate_spec)
from lazytrain.report import render_report

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[1] / "src"


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def cli(*args, timeout=300, **kwargs):
    return subprocess.run([str(BIN / "lazytrain"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def fill(out, spec, status="done") -> None:
    """Compute a spec's points in this process and store them as one run (no worker start-up)."""
    with ResultStore.open_or_create(out) as store:
        run = store.begin_run([spec], "local", 1)
        done = store.keys()
        for p in expand(spec):
            if p.key not in done:
                store.add(p, compute_point(p, pin=False), run)
        if status is not None:
            store.end_run(run, status)


def sgd_spec(steps, **updates):
    data = {"name": f"steps{steps}", "task": {"type": "paper", "d": 8, "seed": 100},
            "regimes": ["nn"], "n_neurons": [4], "seeds": [0, 1], "kinds": ["theory", "sgd"],
            "training": {"steps": steps, "lr": 0.01}}
    return validate_spec({**data, **updates})


def theory_spec(**updates):
    data = {"name": "small", "task": {"type": "paper", "d": 12, "seed": 100},
            "n_neurons": [3, 6, 12], "kinds": ["theory"]}
    return validate_spec({**data, **updates})


# ---------------------------------------------------------------------- 1. settings in the identity
def test_settings_are_columns_and_the_report_never_averages_across_them(tmp_path):
    fill(tmp_path, sgd_spec(300))
    fill(tmp_path, sgd_spec(20))
    rows = json.loads(invoke("results", tmp_path, "--format", "json").stdout)
    sgd = [r for r in rows if r["kind"] == "sgd"]
    assert sorted({r["steps"] for r in sgd}) == [20, 300]
    assert {r["lr"] for r in sgd} == {0.01} and {r["batch_size"] for r in sgd} == {100}
    assert all(r["steps"] is None for r in rows if r["kind"] == "theory")
    # independent: each stored value is the training run with those settings
    task = QuadraticTarget.paper(d=8, seed=100)
    for r in sgd:
        assert r["risk"] == train(task, "nn", 4, steps=r["steps"], lr=0.01, seed=r["seed"]).risk
    # the report: one table per setting, each averaging its own two seeds only
    with ResultStore.open(tmp_path) as store:
        page = render_report(store.records(), store.runs(), "x")
    assert "steps = 20" in page and "steps = 300" in page
    for steps in (20, 300):
        values = [r["risk"] for r in sgd if r["steps"] == steps]
        mean, sd = np.mean(values), np.std(values, ddof=1)
        assert f"{mean:.4f} ± {sd:.4f} <span class='note'>(2)</span>" in page
    assert "(4)" not in page


def test_a_new_training_setting_needs_no_code_to_enter_the_identity_and_the_table():
    from lazytrain.experiments.results import settings_of
    from lazytrain.experiments.spec import TrainingSettings

    options = TrainingSettings().train_options()
    assert set(options) == {"steps", "lr", "batch_size", "dtype", "method", "device"}
    assert not set(options) & TrainingSettings.GRID_FIELDS
    # a field added to TrainingSettings is an option (passed to train, hashed, a column);
    # left unset (None) it is left out, so the points that do not use it keep their keys
    Extended = type("Extended", (TrainingSettings,), {"__annotations__": {"alpha": float | None},
                                                      "alpha": None})
    assert Extended().train_options() == options
    assert Extended(alpha=2.0).train_options() == {**options, "alpha": 2.0}
    identity = {"schema": 1, "task": {"d": 3}, "regime": "nn", "activation": "quadratic",
                "n_neurons": 4, "kind": "fit", "seed": 0,
                "training": {"steps": 10, "alpha": 2.0}, "fit": {"ridge": 0.1, "n_samples": 50},
                "cotrained": [4, 8]}
    assert settings_of(identity) == {"steps": 10, "alpha": 2.0, "ridge": 0.1, "n_samples": 50,
                                     "cotrained": "4+8"}


# ---------------------------------------------------------------------- 2. escaped HTML
PAYLOAD = "<img src=x onerror=alert(1)><script>alert(2)</script>'\"$"


def test_markup_in_every_text_column_of_a_store_comes_out_escaped(tmp_path):
    fill(tmp_path, theory_spec())
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    for table in ("points", "runs"):
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                if r[2] == "TEXT" and r[1] not in ("key", "extra_json", "point_json")]
        conn.execute(f"UPDATE {table} SET " + ", ".join(f"{c} = ?" for c in cols),
                     [PAYLOAD + c for c in cols])
    conn.execute("UPDATE points SET extra_json = ?", [json.dumps({"note": PAYLOAD})])
    conn.execute("UPDATE points SET point_json = ?", [json.dumps({"training": {"x": PAYLOAD}})])
    conn.commit()
    conn.close()
    result = invoke("report", tmp_path)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert not re.search(r"<img src=x|<script", page, re.I)  # (also upper-cased: REGIME.upper())
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "PAYLOAD" not in page and page.count("onerror") >= 10


# ---------------------------------------------------------------------- 3. memory limits
def _toml(tmp_path, body, name="s.toml"):
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, field", [
    ('kinds = ["sgd"]\nn_neurons = [10000000]\n[task]\ntype = "paper"\nd = 30\n', "training.n_neurons"),
    ('n_neurons = [10]\n[task]\ntype = "paper"\nd = 25000\n', "task.d"),
    ('kinds = ["exact"]\nn_neurons = [40000]\n[task]\ntype = "paper"\nd = 30\n', "n_neurons"),
    ('kinds = ["sgd"]\nn_neurons = [10]\n[task]\ntype = "paper"\nd = 30\n'
     '[training]\nbatch_size = 100000000\n', "training.batch_size"),
    ('kinds = ["sgd"]\nn_neurons = [10]\n[task]\ntype = "paper"\nd = 30\n'
     '[training]\nsteps = 9223372036854775807\n', "training.steps"),
])
def test_points_too_large_for_memory_are_refused_before_anything_is_written(tmp_path, body, field):
    spec = _toml(tmp_path, body)
    out = tmp_path / "out"
    result = invoke("run", spec, "--out", out, "--max-memory", "4GB")
    assert result.exit_code == 1, result.output
    assert field in result.output and "more than the limit 3.73 GiB (--max-memory)" in result.output
    assert re.search(r"needs about [0-9.e+]+ [GTPK]iB", result.output)
    assert not out.exists()


def test_a_huge_range_is_refused_without_materialising_it(tmp_path):
    spec = _toml(tmp_path, 'n_neurons = {start = 1, stop = 10000000}\n[task]\ntype = "paper"\nd = 30\n')
    result = invoke("run", spec, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "holds 10000000 values" in result.output
    assert not (tmp_path / "out").exists()


def test_memory_estimates_bound_the_real_arrays():
    """The exact estimate at N covers an N×N float64 Gram matrix several times over; SGD's
    covers its (N, d) weights and the schedule array (one float64 per step)."""
    from lazytrain.experiments.limits import parse_size, point_memory

    assert point_memory("exact", 30, 40000) > 3 * 8 * 40000**2
    assert point_memory("sgd", 30, 10, training={"steps": 2**40}) > 8 * 2**40
    assert point_memory("sgd", 30, 10**7) > 4 * 10**7 * 30
    assert parse_size("4GB") == 4 * 10**9 and parse_size("2GiB") == 2 * 2**30
    with pytest.raises(ValueError, match="max_memory"):
        parse_size("lots")


# ---------------------------------------------------------------------- 4. read-only stores
@contextlib.contextmanager
def read_only(*paths):
    """Make paths read-only, even for root (chattr +i), and undo it afterwards."""
    immutable = os.geteuid() == 0
    if immutable and shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a read-only directory")
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for p in sorted(paths, key=lambda p: -len(str(p))):  # files before their directory
            p.chmod(p.stat().st_mode & ~0o222)
            if immutable:
                subprocess.run(["chattr", "+i", str(p)], check=True)
        yield
    finally:
        for p in paths:
            if immutable:
                subprocess.run(["chattr", "-i", str(p)], check=False)
            p.chmod(modes[p])


def _killed_writer(out, spec):
    """Store the spec's points from a process that is then SIGKILLed: they stay in the WAL."""
    code = ("import sys, time; from lazytrain.experiments import *; "
            "from lazytrain.experiments.spec import validate_spec; import json; "
            f"spec = validate_spec(json.loads({json.dumps(spec.model_dump(mode='json'))!r})); "
            f"store = ResultStore.open_or_create({str(out)!r}); run = store.begin_run([spec], 'local', 1); "
            "[store.add(p, compute_point(p, pin=False), run) for p in expand(spec)]; "
            "print('stored', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.stdout.readline().strip() == "stored"
    proc.kill()
    proc.wait()


def test_results_and_report_read_a_store_in_a_read_only_directory(tmp_path):
    out = tmp_path / "store"
    spec = theory_spec()
    _killed_writer(out, spec)  # the points are committed, in results.sqlite-wal
    assert (out / "results.sqlite-wal").stat().st_size > 0
    files = [p for p in out.iterdir()]
    with read_only(out, *files):
        res = invoke("results", out, "--format", "json")
        assert res.exit_code == 0, res.output
        rows = json.loads(res.stdout)
        assert len(rows) == 3 * 3
        task = QuadraticTarget.paper(d=12, seed=100)
        for r in rows:
            assert r["risk"] == pytest.approx(theory_risk(task, r["regime"], r["n_neurons"]), abs=1e-12)
        rep = invoke("report", out, "--output", tmp_path / "r.html")
        assert rep.exit_code == 0, rep.output
        assert rows[0]["key"] in (tmp_path / "r.html").read_text()
        # nothing to compute: a run on the read-only store is fine; with work to do, one line
        assert invoke("run", _toml(tmp_path, _spec_toml(spec)), "--out", out).exit_code == 0
        bigger = _toml(tmp_path, _spec_toml(spec, n_neurons=[3, 6, 12, 24]), "b.toml")
        result = invoke("run", bigger, "--out", out)
        assert result.exit_code == 1 and "is read-only and 3 of the spec's 12 points" in result.output
        assert "Traceback" not in result.output
        result = invoke("run", bigger, "--out", out / "sub")
        assert result.exit_code == 1 and "cannot create the output directory" in result.output
    (tmp_path / "file").write_text("x")
    result = invoke("run", bigger, "--out", tmp_path / "file" / "sub")
    assert result.exit_code == 1 and "cannot create the output directory" in result.output


def _spec_toml(spec, **updates) -> str:
    data = {**spec.model_dump(mode="json"), **updates}
    task = data.pop("task")
    data.pop("training")
    lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if v is not None]
    lines += ["[task]"] + [f"{k} = {json.dumps(v)}" for k, v in task.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- 5. strict validation
BASE = {"task": {"type": "paper", "d": 12}, "n_neurons": [4]}


@pytest.mark.parametrize("updates, field", [
    ({"task": {"type": "paper", "d": True}}, "task.d"),
    ({"seeds": [False]}, "seeds.0"),
    ({"task": {"type": "paper", "d": "30"}}, "task.d"),
    ({"n_neurons": [4.0]}, "n_neurons.0"),
    ({"kinds": ["sgd"], "training": {"lr": float("inf")}}, "training.lr"),
    ({"task": {"type": "mixture", "d": 12, "frob2": float("nan")}}, "task.frob2"),
    ({"kinds": ["sgd"], "training": {"method": "foo"}}, "training.method"),
    ({"kinds": ["sgd"], "training": {"device": "gpu"}}, "training.device"),
    ({"kinds": ["sgd"], "training": {"steps": 2**63 - 1}}, "training.steps"),
    ({"kinds": ["theory"], "activations": ["relu"], "regimes": ["nn"]}, "kinds"),
    ({"kinds": ["exact"], "activations": ["relu"], "regimes": ["nn"]}, "kinds"),
    ({"kinds": ["sgd"], "regimes": ["rf"], "training": {"method": "flow"}}, "training"),
])
def test_impossible_specs_fail_at_validation_naming_the_field(tmp_path, updates, field):
    with pytest.raises(SpecError) as info:
        validate_spec({**BASE, **updates})
    assert re.search(rf"^  {re.escape(field)}: ", str(info.value), re.M), str(info.value)


def test_cuda_where_there_is_none_is_refused_at_validation():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SpecError, match=r"training.device: .*0 CUDA GPU"):
        validate_spec({**BASE, "kinds": ["sgd"], "training": {"device": "cuda"}})


def test_an_impossible_spec_writes_nothing(tmp_path):
    spec = _toml(tmp_path, 'kinds = ["theory"]\nactivations = ["relu"]\nregimes = ["nn"]\nn_neurons = [4]\n'
                           '[task]\ntype = "paper"\nd = 12\n')
    result = invoke("run", spec, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "kinds: the theory points of regime 'nn'" in result.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- 6. report robustness
def test_report_with_dollars_failed_runs_workers_and_an_empty_store(tmp_path):
    fill(tmp_path, theory_spec(), status="failed: ValueError: boom")
    fill(tmp_path, theory_spec(n_neurons=[24]), status="interrupted")
    fill(tmp_path, theory_spec(n_neurons=[18]), status=None)  # killed: no end recorded
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    conn.execute("UPDATE points SET task_params = 'cost $5 and $x_{'")
    conn.commit()
    conn.close()
    result = invoke("report", tmp_path)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    runs = re.search(r"<h2[^>]*>Runs</h2>(.*?)</table>", page, re.S).group(1)
    assert "failed: ValueError: boom" in runs and "interrupted" in runs and "killed" in runs
    assert runs.count("<td class=\"\">1</td>") >= 3  # the workers column is filled in
    empty = tmp_path / "empty"
    ResultStore.open_or_create(empty).close()
    result = invoke("report", empty)
    assert result.exit_code == 0 and "holds no points yet" in result.output
    assert "holds no points yet" in (empty / "report.html").read_text()


def test_run_spec_records_its_workers_and_how_it_ended(tmp_path):
    run_spec(theory_spec(kinds=["theory", "exact"]), tmp_path, workers=1, progress=False)
    with ResultStore.open(tmp_path) as store:
        (run,) = store.runs()
    assert (run["workers"], run["status"]) == (1, "done") and run["finished_at"]


def test_report_legend_is_beside_the_axes_not_over_the_curves():
    import matplotlib.pyplot as plt

    from lazytrain.report import risk_figure

    rows = [{"regime": g, "kind": k, "n_neurons": n, "risk": r, "seed": 0}
            for g in ("rf", "nt", "nn") for k in ("theory", "exact") for n, r in ((10, .9), (50, .1))]
    fig = risk_figure(rows, "paper(d=50, seed=100), cost $5", 50)
    ax = fig.axes[0]
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    title = ax.title.get_text()
    plt.close(fig)
    assert legend.x0 >= axes.x1  # entirely to the right of the plotting area
    assert title.endswith(r"cost \$5")  # store text drawn literally: '$' escaped for mathtext


def test_legend_marker_matches_the_points_drawn():
    """fig3: NN has only SGD points (filled), so its legend entry is filled, not open."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lazytrain.figures import add_legend

    rows = [{"regime": "nn", "kind": "sgd", "n_neurons": 4}, {"regime": "rf", "kind": "exact", "n_neurons": 4}]
    fig, ax = plt.subplots()
    add_legend(ax, rows)
    handles = dict(zip([t.get_text() for t in ax.get_legend().texts], ax.get_legend().legend_handles))
    plt.close(fig)
    assert handles["NN"].get_markerfacecolor() != "white"
    assert handles["RF"].get_markerfacecolor() == "white"


# ---------------------------------------------------------------------- 7. copying a store
def test_store_file_alone_is_the_whole_store_and_sqlite_export(tmp_path):
    out = tmp_path / "out"
    _killed_writer(out, theory_spec())
    assert (out / "results.sqlite-wal").stat().st_size > 0
    copy = tmp_path / "copy.sqlite"
    result = invoke("results", out, "--format", "sqlite", "--output", copy)
    assert result.exit_code == 0, result.output
    run_spec(theory_spec(n_neurons=[3, 6, 12, 24]), out, progress=False)  # opens, adds 3, closes
    assert not (out / "results.sqlite-wal").exists() or (out / "results.sqlite-wal").stat().st_size == 0
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(out / "results.sqlite", alone / "results.sqlite")  # without the -wal file
    with read_only(alone, alone / "results.sqlite"):
        with ResultStore.open(alone) as store:
            assert len(store) == 12
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 9
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


# ---------------------------------------------------------------------- 8. newcomer papercuts
def test_gaussian_mixture_paper_works_at_small_d():
    for d in (1, 5, 20, 30):
        task = GaussianMixture.paper(d=d)
        assert task.op_norm < 1
        # the default at d = 450 is still the paper-like 4
        assert task.frob2 == pytest.approx(4.0 * min(1, d / 450))
    assert GaussianMixture.paper(d=450).frob2 == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"use frob2 < [0-9.]+"):
        GaussianMixture.paper(d=20, frob2=4.0)


def test_divergence_suggests_a_step_that_trains():
    task = QuadraticTarget.paper(d=12)
    for regime, lr in (("nn", 10.0), ("rf", 100.0)):
        with pytest.raises(ValueError, match="diverged") as info:
            train(task, regime, 6, steps=1500, lr=lr, seed=0)
        suggested = float(re.search(r"e\.g\. lr = ([0-9.e+-]+)", str(info.value)).group(1))
        assert suggested < lr / 4
        result = train(task, regime, 6, steps=1500, lr=suggested, seed=0)
        assert result.risk < 1.0  # it trains (and does not diverge)
        with pytest.raises(ValueError, match="diverged"):  # the old advice, lr/4, did not
            train(task, regime, 6, steps=1500, lr=lr / 4, seed=0)


def test_one_name_rule_in_the_api_and_in_specs():
    task = QuadraticTarget.paper(d=12)
    W = random_weights(12, 4, seed=0)
    assert exact_risk(task, " NT ", W, "ReLU") == exact_risk(task, "nt", W, "relu")
    spec = validate_spec({**BASE, "regimes": ["RF", " Nt"], "activations": ["Quadratic"],
                          "kinds": ["Theory"]})
    assert (spec.regimes, spec.activations, spec.kinds) == (["rf", "nt"], ["quadratic"], ["theory"])


def test_unknown_options_and_devices_get_clean_errors():
    task = QuadraticTarget.paper(d=12)
    with pytest.raises(TypeError, match=r"theory_risk\(\) got unknown option\(s\) \['activaton'\]; "
                                        r"for this task the options are \['cov', 'finite_d'\]"):
        theory_risk(task, "rf", 4, activaton="relu")
    with pytest.raises(TypeError, match=r"^exact_risk\(\) got an unexpected keyword argument 'tolerance'"):
        exact_risk(task, "nt", random_weights(12, 4, seed=0), tolerance=1e-3)
    with pytest.raises(ValueError) as info:
        train(task, "nn", 4, steps=10, device="gpu")
    assert str(info.value) == ("device must be 'cpu', 'cuda', 'cuda:K' (K = GPU index) or 'mps', "
                               "got 'gpu'")


def test_train_result_repr_is_one_short_line():
    result = train(QuadraticTarget.paper(d=12), "nn", 4, steps=20, lr=0.01, seed=3)
    text = repr(result)
    assert "\n" not in text and len(text) < 250
    assert f"risk={result.risk:.6g}" in text and "n_neurons=4" in text and "seed=3" in text


def test_ctrl_c_stops_the_workers_at_once_without_tracebacks(tmp_path):
    spec = _toml(tmp_path, 'kinds = ["sgd"]\nregimes = ["nn"]\nn_neurons = [30, 40]\n'
                           '[task]\ntype = "paper"\nd = 60\n[training]\nsteps = 200000\ngroups = 2\n')
    proc = subprocess.Popen([str(BIN / "lazytrain"), "run", str(spec), "--out", str(tmp_path / "o"),
                             "--workers", "2", "--no-progress"], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)},
                            # a terminal's Ctrl-C: SIGINT at its default even when this test runs
                            # in a background job, which inherits it ignored (POSIX shells)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.5)  # the workers are starting (importing torch)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert "leaked semaphore" not in err, err  # the resource tracker's warning on the kill path
    time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):  # no worker of the group survives the driver
        os.killpg(proc.pid, 0)
        pytest.fail("worker processes were left running after Ctrl-C")


def test_cli_options_are_consistent_and_results_help_lists_the_columns():
    run_help, rep_help = invoke("run", "--help").output, invoke("reproduce", "--help").output
    for option in ("--seed", "--progress / --no-progress", "--max-memory SIZE", "--out DIR",
                   "--workers", "--executor", "--scheduler"):
        assert option in run_help and option in rep_help, option
    res_help = invoke("results", "--help").output
    for column in ("task", "regime", "activation", "n_neurons", "rho", "kind", "seed", "risk",
                   "steps", "lr", "batch_size", "cotrained", "error", "risk_method", "task_params",
                   "key", "sqlite"):
        assert column in res_help, column


def test_the_cli_imports_only_what_a_command_needs():
    code = ("import sys; from click.testing import CliRunner; from lazytrain.cli import main; "
            "r = CliRunner().invoke(main, sys.argv[1:]); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'distributed', 'pydantic', 'scipy', 'matplotlib') "
            "if m in sys.modules))")

    def loaded(*args):
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert loaded("--help") == "[]"
    assert loaded("run", "--help") == "[]"


def test_the_results_command_needs_neither_torch_nor_pydantic(tmp_path):
    fill(tmp_path, theory_spec())
    code = ("import sys; from click.testing import CliRunner; from lazytrain.cli import main; "
            f"r = CliRunner().invoke(main, ['results', {str(tmp_path)!r}]); assert r.exit_code == 0; "
            "print(sorted(m for m in ('torch', 'distributed', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_docs_are_self_contained_and_current():
    docs = Path(__file__).resolve().parents[1] / "docs"
    for path in [*docs.glob("*.md"), docs.parent / "README.md", *SRC.rglob("*.py")]:
        assert "paper.md" not in path.read_text(), f"{path} cites paper.md, which users do not have"
    repro = (docs / "reproduction.md").read_text()
    assert "sgd=False" not in repro
    assert "1e-3" not in repro or "2e-3" in repro
    assert "180 points" not in (docs / "cluster.md").read_text()


def test_a_ctrl_c_while_workers_start_is_held_back_not_lost():
    """The window in which the workers are spawned holds Ctrl-C back from them; the driver must
    still receive it when the window closes (ignoring it there lost the interrupt: the run went on)."""
    from lazytrain.experiments.execute import _sigint_held_back

    # Python's Ctrl-C handler, even when the tests run in a background job (SIGINT ignored there)
    # What happened, in order: a do-nothing window lets the interrupt out inside it (no
    # "window ran to its end"); a window that ignores Ctrl-C loses it ("after the window").
    events = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            with _sigint_held_back():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # held back: nothing may be raised inside the window
                events.append("window ran to its end")
            events.append("after the window")  # the interrupt must come before this
            time.sleep(1.0)
        except KeyboardInterrupt:
            events.append("interrupt")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert events == ["window ran to its end", "interrupt"]
