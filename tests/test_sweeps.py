"""Running sweeps: resume after SIGKILL, executors agree, the CLI as a newcomer types it."""

import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lazytrain import QuadraticTarget
from lazytrain.cli import main
from lazytrain.experiments import (KINDS, PointError, ResultStore, export, load_spec, run_spec,
                                   tidy_rows, validate_spec)
from lazytrain.experiments.kinds import Kind
from lazytrain.figures import seed_stats

BIN = Path(sys.executable).parent


def cli(*args, **kwargs):
    """Run the installed `lazytrain` command as a user would."""
    return subprocess.run([str(BIN / "lazytrain"), *map(str, args)], capture_output=True,
                          text=True, timeout=300, **kwargs)


def invoke(*args):
    """Run a CLI command in this process (faster than a subprocess)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def table(out) -> str:
    with ResultStore.open(out) as store:
        return export(tidy_rows(store.records()), "csv")


def small_spec(**updates):
    data = {"name": "small", "task": {"type": "paper", "d": 24, "seed": 100},
            "n_neurons": [3, 12, 24, 36], "seeds": [0, 1], "kinds": ["theory", "exact"]}
    return validate_spec({**data, **updates})


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    run_spec(small_spec(), out, executor="local", workers=1, progress=False)
    return table(out)


# ---------------------------------------------------------------------- resume after SIGKILL
KILL_SPEC = """
name = "kill-test"
regimes = ["rf", "nt", "nn"]
n_neurons = {start = 4, stop = 80, step = 4}
seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
kinds = ["theory", "exact"]

[task]
type = "paper"
d = 40
"""


def _query(out, sql, default):
    path = out / "results.sqlite"
    if not path.exists():
        return default
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return default
    finally:
        conn.close()


def _stored(out) -> dict:
    """key -> (run id, finish time) of the stored points."""
    return {k: (run, at) for k, run, at in _query(out, "SELECT key, run_id, finished_at FROM points", [])}


def _run_and_kill(spec_file, out, after: int) -> dict:
    """Start `lazytrain run`, SIGKILL it (and its workers) once `after` points are stored."""
    proc = subprocess.Popen([str(BIN / "lazytrain"), "run", str(spec_file), "--out", str(out),
                             "--workers", "2", "--no-progress"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while (_query(out, "SELECT COUNT(*) FROM points", [(0,)])[0][0] < after
               and proc.poll() is None and time.monotonic() < deadline):
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    return _stored(out)


def test_sigkill_then_resume_gives_the_uninterrupted_table_without_repeats(tmp_path):
    spec_file = tmp_path / "kill.toml"
    spec_file.write_text(KILL_SPEC)
    total = 3 * 20 + 3 * 20 * 10
    reference = tmp_path / "reference"  # (also: Dask with threads against local processes)
    run_spec(load_spec(spec_file), reference, executor="dask", workers=2, dask_processes=False,
             progress=False)

    out = tmp_path / "killed"
    before = _run_and_kill(spec_file, out, after=150)
    assert 150 <= len(before) < total
    final = invoke("run", spec_file, "--out", out, "--no-progress")
    assert final.exit_code == 0, final.output
    assert f"{total} points, {len(before)} already stored, {total - len(before)} computed" in final.stdout
    stored = _stored(out)
    # nothing stored before the kill was lost or recomputed, nothing is missing
    assert len(stored) == total and all(stored[k] == v for k, v in before.items())
    assert table(out) == table(reference)
    with ResultStore.open(out) as store:
        assert len(store.runs()) == 2
        assert len(store.records()) == total  # the key is the primary key: no point twice


# ---------------------------------------------------------------------- executors agree
def test_dask_local_cluster_threads_gives_the_local_table(tmp_path, local_reference):
    run_spec(small_spec(), tmp_path, executor="dask", workers=2, dask_processes=False, progress=False)
    assert table(tmp_path) == local_reference


def test_dask_local_cluster_processes_gives_the_local_table(tmp_path, local_reference):
    # (local with 2 workers against 1: see the SIGKILL test)
    run_spec(small_spec(), tmp_path, executor="dask", workers=2, progress=False)
    assert table(tmp_path) == local_reference


@pytest.mark.slow
def test_dask_scheduler_and_worker_started_by_hand_on_loopback(tmp_path, local_reference):
    """As in docs/cluster.md: `dask scheduler`, `dask worker ADDRESS`, then --scheduler."""
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                  "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "2",
                                   "--nthreads", "1", "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        spec_file = tmp_path / "small.toml"
        spec_file.write_text('name = "small"\nn_neurons = [3, 12, 24, 36]\nseeds = [0, 1]\n'
                             '[task]\ntype = "paper"\nd = 24\n')
        result = invoke("run", spec_file, "--out", tmp_path / "out", "--scheduler", address,
                        "--no-progress")
        assert result.exit_code == 0, result.output
        assert table(tmp_path / "out") == local_reference
        with ResultStore.open(tmp_path / "out") as store:
            assert store.runs()[0]["executor"] == "dask"
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


# ---------------------------------------------------------------------- the CLI
def test_results_formats_agree_and_report_is_self_contained(tmp_path):
    run_spec(small_spec(seeds=[0, 1, 2]), tmp_path, workers=1, progress=False)
    csv_rows = list(csv.DictReader(io.StringIO(invoke("results", tmp_path).stdout)))
    json_rows = json.loads(invoke("results", tmp_path, "--format", "json").stdout)
    assert len(csv_rows) == len(json_rows) == 3 * 4 + 3 * 4 * 3
    assert [float(r["risk"]) for r in csv_rows] == [r["risk"] for r in json_rows]
    written = invoke("results", tmp_path, "--format", "csv", "--output", tmp_path / "t.csv")
    assert written.exit_code == 0 and (tmp_path / "t.csv").read_text() == table(tmp_path)

    rep = invoke("report", tmp_path)
    assert rep.exit_code == 0, rep.output
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1
    assert not re.search(r"""(src|href)=['"](?!data:|#)""", page)  # nothing to fetch
    for r in json_rows:
        assert r["key"] in page  # provenance of every point
    assert " ± " in page  # three seeds: mean ± sd


def test_results_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    run_spec(small_spec(kinds=["theory"]), tmp_path, progress=False)
    assert "give --output FILE" in invoke("results", tmp_path, "--format", "parquet").output
    assert invoke("results", tmp_path, "--format", "parquet", "--output", tmp_path / "t.parquet").exit_code == 0
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert list(frame["risk"]) == [float(r["risk"]) for r in csv.DictReader(io.StringIO(table(tmp_path)))]


def test_results_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    run_spec(small_spec(kinds=["theory"]), tmp_path, progress=False)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    result = invoke("results", tmp_path, "--format", "parquet", "--output", tmp_path / "t.parquet")
    assert result.exit_code == 1
    assert "pip install 'lazytrain[parquet]'" in result.output and not (tmp_path / "t.parquet").exists()


def test_cli_reports_a_foreign_store_and_a_bad_spec(tmp_path):
    (tmp_path / "results.sqlite").write_text("not mine")
    result = invoke("run", "fig1", "--quick", "--out", tmp_path)
    assert result.exit_code == 1
    assert "not a lazytrain result store" in result.output
    assert (tmp_path / "results.sqlite").read_text() == "not mine"
    assert "not a lazytrain result store" in invoke("results", tmp_path).output
    bad = tmp_path / "bad.toml"
    bad.write_text('n_neurons = [1]\nregimes = ["xx"]\n[task]\ntype = "paper"\n')
    result = invoke("run", bad, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "regimes.0" in result.output
    result = invoke("run", "fig1", "--out", tmp_path / "o", "--executor", "local", "--scheduler", "x")
    assert result.exit_code == 2 and "--scheduler needs --executor dask" in result.output


def test_a_failing_point_is_named_and_the_points_before_it_are_kept(tmp_path, monkeypatch):
    spec = small_spec(kinds=["theory"], regimes=["nt"])
    real = KINDS["theory"]

    def fail_at_24(task, point):
        if point.n_neurons == 24:
            raise ValueError("no theory here")
        return real.compute(task, point)

    monkeypatch.setitem(KINDS, "theory", Kind("theory", fail_at_24, cheap=True, seeded=False))
    with pytest.raises(PointError, match=r"point theory nt quadratic N=24 on paper\(d=24, seed=100\)"
                                         r" \[[0-9a-f]{12}\] failed: ValueError: no theory here"):
        run_spec(spec, tmp_path, progress=False)
    with ResultStore.open(tmp_path) as store:
        assert sorted(r["n_neurons"] for r in store.records()) == [3, 12]
    monkeypatch.setitem(KINDS, "theory", real)
    summary = run_spec(spec, tmp_path, progress=False)
    assert (summary.skipped, summary.computed) == (2, 2)


def test_unreachable_scheduler_is_reported(tmp_path):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = invoke("run", "fig1", "--quick", "--out", tmp_path, "--scheduler",
                        "tcp://127.0.0.1:9")
    assert result.exit_code == 1 and "cannot reach the Dask scheduler" in result.output


def test_seed_stats_are_mean_and_sample_sd():
    rows = [{"regime": "rf", "kind": "exact", "n_neurons": n, "risk": r}
            for n, r in [(5, 0.1), (5, 0.3), (5, 0.8), (9, 0.5)]]
    (n5, m5, s5, c5), (n9, m9, s9, c9) = seed_stats(rows, "rf", "exact")
    assert (n5, c5, n9, c9) == (5, 3, 9, 1)
    assert m5 == pytest.approx(np.mean([0.1, 0.3, 0.8])) and s5 == pytest.approx(np.std([0.1, 0.3, 0.8], ddof=1))
    assert (m9, s9) == (0.5, 0.0)


def test_sgd_groups_are_trained_together_and_stored_whole(tmp_path):
    from lazytrain import train, train_sweep

    spec = validate_spec({"task": {"type": "paper", "d": 12, "seed": 100}, "regimes": ["nn", "rf"],
                          "n_neurons": [3, 6, 9], "seeds": [0], "kinds": ["sgd"],
                          "training": {"steps": 300, "lr": 0.01, "groups": 2,
                                       "lr_exponent": 0.5, "lr_reference_n": 3}})
    run_spec(spec, tmp_path, workers=1, progress=False)
    with ResultStore.open(tmp_path) as store:
        rows = {(r["regime"], r["n_neurons"]): r for r in tidy_rows(store.records())}
        runs = {r["key"]: r["run_id"] for r in store.records()}
    task = QuadraticTarget.paper(d=12, seed=100)
    # widths 3 and 6 together, each with its step size 0.01·(3/N)^0.5; width 9 alone
    together = train_sweep(task, "nn", [3, 6], steps=300, lr=[0.01, 0.01 * 0.5 ** 0.5], seed=0)
    assert [rows[("nn", n)]["risk"] for n in (3, 6)] == [r.risk for r in together]
    alone = train(task, "nn", 9, steps=300, lr=0.01 * (3 / 9) ** 0.5, seed=0)
    assert rows[("nn", 9)]["risk"] == alone.risk
    assert rows[("nn", 3)]["risk_method"] == "exact" and len(runs) == 6
