"""The store and the runs (issue 17, section D): a store is never overwritten by an export or a
report, a foreign schema is refused untouched, readers write nothing next to the store, and
every way a run ends is recorded."""

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lazytrain.cli import main
from lazytrain.experiments import ResultStore, compute_point, expand, validate_spec

from test_store_trust import _killed_writer, read_only

SRC = Path(__file__).resolve().parents[1] / "src"


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def theory_spec(**updates):
    data = {"name": "small", "task": {"type": "paper", "d": 12, "seed": 100},
            "n_neurons": [3, 6, 12], "kinds": ["theory"]}
    return validate_spec({**data, **updates})


def fill(out, spec, status="done"):
    with ResultStore.open_or_create(out) as store:
        run = store.begin_run([spec], "local", 1)
        for p in expand(spec):
            store.add(p, compute_point(p, pin=False), run)
        if status is not None:
            store.end_run(run, status)


def digest(path: Path) -> tuple:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.mark.parametrize("command", [["results"], ["results", "--format", "sqlite"],
                                     ["results", "--format", "json"], ["report"]])
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_an_export_or_report_onto_the_store_is_refused(tmp_path, command, suffix):
    fill(tmp_path, theory_spec())
    store = tmp_path / "results.sqlite"
    companion = store.with_name(store.name + suffix)
    if suffix:
        companion.write_bytes(b"")  # as a killed run leaves them
    before = digest(store)
    # the same file spelt differently is still refused
    target = tmp_path / "." / companion.name
    res = invoke(command[0], tmp_path, *command[1:], "--output", target)
    assert res.exit_code == 1, res.output
    assert "would destroy the store" in res.output and "Traceback" not in res.output
    assert digest(store) == before
    with ResultStore.open(tmp_path) as s:
        assert len(s) == 9


def _foreign_schema(path: Path) -> None:
    """An SQLite file with lazytrain's meta table (format and version) but other tables."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", "lazytrain-results"),
                                                            ("schema_version", "1")])
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("CREATE TABLE points (key TEXT PRIMARY KEY, value REAL)")
        conn.execute("INSERT INTO points VALUES ('a', 1.0)")
    conn.close()


def test_a_foreign_schema_with_our_meta_table_is_refused_untouched(tmp_path):
    _foreign_schema(tmp_path / "results.sqlite")
    before = digest(tmp_path / "results.sqlite")
    spec = tmp_path / "s.toml"
    spec.write_text('n_neurons = [3]\nkinds = ["theory"]\n[task]\ntype = "paper"\nd = 8\n')
    for args in (["run", spec, "--out", tmp_path], ["results", tmp_path], ["report", tmp_path]):
        res = invoke(*args)
        assert res.exit_code == 1, (args, res.output)
        assert "not its schema" in res.output and "lacks" in res.output, res.output
        assert "Traceback" not in res.output and res.exception is None or \
            isinstance(res.exception, SystemExit)
    assert digest(tmp_path / "results.sqlite") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite", "s.toml"]


def test_reading_a_wal_store_in_a_read_only_directory_writes_nothing_next_to_it(tmp_path):
    out = tmp_path / "store"
    _killed_writer(out, theory_spec())  # committed points in results.sqlite-wal, and a -shm
    shm = out / "results.sqlite-shm"
    assert shm.exists() and (out / "results.sqlite-wal").stat().st_size > 0
    before = {p.name: digest(p) for p in out.iterdir()}
    with read_only(out):  # the directory only: the files themselves stay writable
        res = invoke("results", out, "--format", "json")
        assert res.exit_code == 0, res.output
        assert len(json.loads(res.stdout)) == 9
        rep = invoke("report", out, "--output", tmp_path / "r.html")
        assert rep.exit_code == 0, rep.output
        spec = tmp_path / "s.toml"  # a run with nothing left to compute only reads, too
        spec.write_text('name = "small"\nn_neurons = [3, 6, 12]\nkinds = ["theory"]\n'
                        '[task]\ntype = "paper"\nd = 12\nseed = 100\n')
        res = invoke("run", spec, "--out", out)
        assert res.exit_code == 0 and "0 computed" in res.output, res.output
        assert {p.name: digest(p) for p in out.iterdir()} == before


# ---------------------------------------------------------------------- how runs end
def _status(out) -> list:
    with ResultStore.open(out) as store:
        return [r["status"] for r in store.runs()]


def test_a_rerun_after_an_interruption_past_the_last_point_records_done(tmp_path):
    from lazytrain.experiments import run_spec

    spec = theory_spec()
    fill(tmp_path, spec, status="interrupted")  # every point stored, then Ctrl-C
    summary = run_spec(spec, tmp_path, progress=False)
    assert (summary.computed, summary.skipped) == (0, 9) and summary.run_id is not None
    assert _status(tmp_path) == ["interrupted", "done"]
    run_spec(spec, tmp_path, progress=False)  # complete and recorded so: nothing more to record
    assert _status(tmp_path) == ["interrupted", "done"]


@pytest.mark.parametrize("store_exists", [False, True])
def test_ctrl_c_says_where_the_points_are_only_when_a_store_exists(tmp_path, monkeypatch, store_exists):
    import lazytrain.experiments.execute as execute

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "run_spec", interrupted)
    if store_exists:
        fill(tmp_path, theory_spec())
    res = invoke("run", "fig1", "--quick", "--out", tmp_path)
    assert res.exit_code == 130
    assert ("the finished points are stored in" in res.output) == store_exists, res.output
    assert ("interrupted before any point was stored" in res.output) == (not store_exists)


def _bug(*args, **kwargs):
    return {}["a key that is not there"]  # a KeyError from inside lazytrain's call: a bug


def test_an_unexpected_error_is_named_as_a_bug_and_debug_shows_the_traceback(tmp_path, monkeypatch):
    import lazytrain.experiments.execute as execute

    monkeypatch.setattr(execute, "run_spec", _bug)
    res = invoke("run", "fig1", "--quick", "--out", tmp_path)
    assert res.exit_code == 1
    assert "internal error: KeyError" in res.output and "This is a bug, please report it" in res.output
    assert "Traceback" not in res.output
    for args, env in (((["--debug"]), {}), ([], {"LAZYTRAIN_DEBUG": "1"})):
        res = invoke(*args, "run", "fig1", "--quick", "--out", tmp_path, env=env)
        assert isinstance(res.exception, KeyError), (args, env, res.output)
    # a user's mistake stays one line, without the bug report request
    res = invoke("results", tmp_path / "nothing")
    assert res.exit_code == 1 and "is not a directory of lazytrain results" in res.output
    assert "bug" not in res.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_at_once_and_before_anything_is_stored(tmp_path):
    import time

    spec = tmp_path / "s.toml"
    spec.write_text('n_neurons = [3, 6]\nkinds = ["theory", "exact"]\n[task]\ntype = "paper"\nd = 8\n')
    t0 = time.perf_counter()
    res = invoke("run", spec, "--out", tmp_path / "o", "--scheduler", f"tcp://127.0.0.1:{_closed_port()}")
    elapsed = time.perf_counter() - t0
    assert res.exit_code == 1 and "cannot reach the Dask scheduler" in res.output, res.output
    assert elapsed < 10
    with ResultStore.open(tmp_path / "o") as store:
        assert len(store) == 0 and store.runs() == []


def test_the_local_dask_cluster_serves_no_dashboard(tmp_path):
    from distributed import get_client

    from lazytrain.experiments.execute import _dask_executor

    with _dask_executor(1, None, processes=False):
        scheduler = get_client().cluster.scheduler
        # dask's scheduler always serves HTTP (health checks); not on 8787, and on the loopback only
        assert scheduler.http_server.port != 8787
        assert {s.getsockname()[0] for s in scheduler.http_server._sockets.values()} <= {"127.0.0.1"}


CRASHING_RUN = '''
import multiprocessing, os, signal, sys
import numpy as np
import lazytrain as lt
from lazytrain.experiments import run_spec, validate_spec

def sigma(u, flag=sys.argv[2], always=sys.argv[3] == "always"):
    """tanh, but the worker process that evaluates it first is SIGKILLed (once, or always)."""
    if multiprocessing.parent_process() is not None and os.path.exists(flag):
        if not always:
            os.unlink(flag)
        os.kill(os.getpid(), signal.SIGKILL)
    return np.tanh(u)

if __name__ == "__main__":
    lt.register_activation("crashy", sigma)
    open(sys.argv[2], "w").close()
    spec = validate_spec({"name": "crash", "task": {"type": "paper", "d": 6, "seed": 1},
                          "n_neurons": [2], "kinds": ["exact"], "regimes": ["rf"],
                          "activations": ["crashy", "tanh"]})
    try:
        s = run_spec(spec, sys.argv[1], workers=2, progress=False)
        print("computed", s.computed, flush=True)
    except Exception as exc:
        print("error", type(exc).__name__, exc, flush=True)
'''


def _crashing_run(tmp_path, mode):
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_RUN)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "o"), str(tmp_path / "flag"), mode],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert "leaked" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def test_a_worker_that_dies_once_costs_no_point(tmp_path):
    out = _crashing_run(tmp_path, "once")
    assert "computed 2" in out, out
    assert _status(tmp_path / "o") == ["done"]


@pytest.mark.slow
def test_a_point_that_keeps_killing_its_worker_is_named_and_the_others_are_stored(tmp_path):
    out = _crashing_run(tmp_path, "always")
    assert "error PointError" in out and "crashy" in out and "died 3 times" in out, out
    assert "failed the same way" not in out
    with ResultStore.open(tmp_path / "o") as store:
        assert sorted(r["activation"] for r in store.records()) == ["tanh"]
    assert _status(tmp_path / "o")[0].startswith("failed: point exact rf crashy")


def test_sigterm_stops_the_run_and_records_it_as_terminated(tmp_path):
    import signal
    import time

    spec = tmp_path / "s.toml"
    spec.write_text('kinds = ["sgd"]\nregimes = ["nn"]\nn_neurons = [30, 40]\n'
                    '[task]\ntype = "paper"\nd = 60\n[training]\nsteps = 200000\ngroups = 2\n')
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "lazytrain.cli", "run", str(spec), "--out", str(out),
                             "--workers", "2", "--no-progress"], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the run is recorded (and its workers start)
            time.sleep(0.3)
            if (out / "results.sqlite").exists() and _status(out) == ["running"]:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)  # the driver only, as a batch system or `kill` does
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err and "leaked" not in err, err
    assert _status(out) == ["terminated"]
