"""``--executor slurm``: against a real Slurm (tests marked ``slurm``), and its refusals without one.

The ``slurm`` tests need a Slurm that accepts jobs on this machine: ``.ci/slurm-up`` (as root)
starts a single-node one on 127.0.0.1. Without one they skip, saying so, unless
``LAZYTRAIN_REQUIRE_SLURM=1`` (set by ``.ci/run``) turns the skip into a failure: CI never
skips them silently. Every run here keeps its traffic on the loopback (``--slurm-interface lo``)
and runs in a fresh folder (the jobs' ``slurm-ID.out`` files land there; Slurm's job ids
restart at 1 when its state is wiped). Each test checks that ``squeue`` is empty afterwards.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lazytrain.cli import main
from lazytrain.experiments import ResultStore, export, load_spec, run_spec, tidy_rows
from lazytrain.experiments.limits import format_size
from lazytrain.experiments.slurm import PROCESS_OVERHEAD, SlurmOptions, plan_jobs

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[1] / "src"
REQUIRE = os.environ.get("LAZYTRAIN_REQUIRE_SLURM") == "1"
LOOPBACK = ("--slurm-interface", "lo")

#: theory, exact and SGD points: the three paths a point can take, in a few seconds
SMALL = """
name = "slurm-small"
regimes = ["rf", "nn"]
n_neurons = [4, 8]
seeds = [0, 1]
kinds = ["theory", "exact", "sgd"]
[task]
type = "paper"
d = 12
seed = 100
[training]
steps = 200
lr = 0.01
"""
#: SGD points of about half a second each: a job can be cancelled while it computes
SLOW = """
name = "slurm-slow"
regimes = ["nn"]
n_neurons = [4, 8, 12]
seeds = [0, 1, 2]
kinds = ["sgd"]
[task]
type = "paper"
d = 12
seed = 100
[training]
steps = 1500
lr = 0.01
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def table(out) -> str:
    with ResultStore.open(out) as store:
        return export(tidy_rows(store.records()), "csv")


def local_table(spec_file, out) -> str:
    run_spec(load_spec(spec_file), out, executor="local", workers=1, progress=False)
    return table(out)


def squeue() -> list[str]:
    proc = subprocess.run(["squeue", "-h", "-o", "%i %T %j"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _slurm_missing() -> str | None:
    """Why no Slurm job can run here (None when a node is up)."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 30 s"
    states = proc.stdout.split()
    if proc.returncode or not {"idle", "mixed", "allocated"} & set(states):
        return f"no Slurm node up (sinfo: {' '.join((proc.stderr or proc.stdout).split()) or 'nothing'})"
    return None


def _need(why: str | None) -> None:
    if why:
        message = f"no Slurm here ({why}): start one with .ci/slurm-up (as root)"
        if REQUIRE:
            pytest.fail(f"{message}; LAZYTRAIN_REQUIRE_SLURM=1 forbids skipping the slurm tests")
        pytest.skip(message)


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """A running Slurm, a fresh folder to run from, and an empty squeue afterwards."""
    _need(_slurm_missing())
    assert squeue() == [], "jobs left in squeue by something else; these tests expect none"
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    deadline = time.monotonic() + 20  # a cancelled job may show as COMPLETING for a moment
    while squeue() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = squeue()
    subprocess.run(["scancel", "--user", str(os.getuid())], timeout=30)  # (not to spoil the next test)
    assert left == [], f"jobs left in squeue after the run: {left}"


def lazytrain(*args, cwd, **popen):
    """The installed ``lazytrain`` command, as a user runs it, from ``cwd``."""
    return subprocess.Popen([str(BIN / "lazytrain"), *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)}, **popen)


def finish(proc, timeout=300):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err


def stored(out) -> int:
    path = Path(out) / "results.sqlite"
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        except sqlite3.OperationalError:  # the tables are being created
            return 0


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


# ---------------------------------------------------------------------- against a real Slurm
@pytest.mark.slurm
def test_slurm_run_gives_the_local_table(slurm):
    spec = slurm / "small.toml"
    spec.write_text(SMALL)
    code, out, err = finish(lazytrain("run", spec, "--out", "viaslurm", "--executor", "slurm",
                                      *LOOPBACK, "--slurm-jobs", "2", "--no-progress", cwd=slurm))
    assert code == 0, err
    assert "20 points, 0 already stored, 20 computed" in out
    assert table(slurm / "viaslurm") == local_table(spec, slurm / "local")  # byte for byte
    with ResultStore.open(slurm / "viaslurm") as store:
        (run,) = store.runs()
    assert (run["executor"], run["workers"], run["status"]) == ("slurm", 2, "done")
    logs = sorted(p.name for p in slurm.glob("slurm-*.out"))
    assert len(logs) == 2, logs  # two worker jobs ran, from the folder the run started in
    # run again: everything is stored, nothing is submitted
    code, out, err = finish(lazytrain("run", spec, "--out", "viaslurm", "--executor", "slurm",
                                      *LOOPBACK, "--no-progress", cwd=slurm))
    assert code == 0 and "20 already stored, 0 computed" in out, err
    assert sorted(p.name for p in slurm.glob("slurm-*.out")) == logs


@pytest.mark.slurm
def test_a_scancelled_job_loses_nothing(slurm):
    """One job only, cancelled while it computes: the run can only finish through the job that
    replaces it, which recomputes the points that were in flight."""
    spec = slurm / "slow.toml"
    spec.write_text(SLOW)
    proc = lazytrain("run", spec, "--out", "viaslurm", "--executor", "slurm", *LOOPBACK,
                     "--slurm-jobs", "1", "--no-progress", cwd=slurm)
    try:
        wait_for(lambda: stored(slurm / "viaslurm") >= 2 or proc.poll() is not None, 180,
                 "two points stored")
        assert proc.poll() is None, "the run ended before the job could be cancelled"
        (job,) = [line.split()[0] for line in squeue()]
        subprocess.run(["scancel", job], check=True, timeout=30)
        cancelled_at = stored(slurm / "viaslurm")
        assert cancelled_at < 9
    finally:
        code, out, err = finish(proc)
    assert code == 0, err
    assert "9 points, 0 already stored, 9 computed" in out
    assert table(slurm / "viaslurm") == local_table(spec, slurm / "local")
    ids = sorted(int(re.fullmatch(r"slurm-(\d+)\.out", p.name).group(1)) for p in slurm.glob("slurm-*.out"))
    assert len(ids) >= 2 and ids[0] == int(job), ids  # the cancelled job, and its replacement


@pytest.mark.slurm
def test_ctrl_c_cancels_every_job(slurm):
    spec = slurm / "slow.toml"
    spec.write_text(SLOW)
    proc = lazytrain("run", spec, "--out", "viaslurm", "--executor", "slurm", *LOOPBACK,
                     "--slurm-jobs", "2", "--no-progress", cwd=slurm,
                     # a terminal's Ctrl-C: SIGINT at its default even when this test runs in a
                     # background job, which inherits it ignored (POSIX shells)
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: len(squeue()) == 2 or proc.poll() is not None, 120, "two jobs in squeue")
        wait_for(lambda: stored(slurm / "viaslurm") >= 1 or proc.poll() is not None, 120,
                 "a point stored")
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)
    finally:
        code, out, err = finish(proc, timeout=120)
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    with ResultStore.open(slurm / "viaslurm") as store:
        assert store.runs()[0]["status"] == "interrupted"
    # (the fixture checks that squeue is empty)


@pytest.mark.slurm
def test_jobs_that_never_start_stop_the_run_with_their_logs_named(slurm):
    spec = slurm / "small.toml"
    spec.write_text(SMALL)
    # a working directory that does not exist: each job fails before its worker starts
    code, out, err = finish(lazytrain("run", spec, "--out", "viaslurm", "--executor", "slurm",
                                      *LOOPBACK, "--slurm-sbatch=--chdir=/nonexistent/lazytrain",
                                      "--no-progress", cwd=slurm), timeout=180)
    assert code == 1, err
    assert "worker jobs in a row ended before their Dask worker reached the scheduler" in err, err
    assert "slurm-<id>.out" in err and "Traceback" not in err
    with ResultStore.open(slurm / "viaslurm") as store:
        status = store.runs()[0]["status"]
    assert re.match(r"failed: --executor slurm: \d+ worker jobs in a row ended", status), status


@pytest.mark.slurm
def test_a_job_larger_than_any_node_is_refused_before_anything_is_written(slurm):
    spec = slurm / "small.toml"
    spec.write_text(SMALL)
    result = invoke("run", spec, "--out", slurm / "o", "--executor", "slurm", *LOOPBACK,
                    "--slurm-memory", "64TiB")
    assert result.exit_code == 1
    assert "Slurm refuses the worker job (--cpus-per-task=1, --mem=67108864M" in result.output
    assert "sbatch says:" in result.output and not (slurm / "o").exists()


@pytest.mark.slurm
@pytest.mark.slow
def test_fig1_quick_on_slurm_gives_the_local_table(slurm):
    """The issue's acceptance check, at fig1 --quick's 195 points (pytest -m slow -k slurm)."""
    code, out, err = finish(lazytrain("run", "fig1", "--quick", "--out", "viaslurm", "--executor",
                                      "slurm", *LOOPBACK, "--slurm-jobs", "2", "--no-progress", cwd=slurm))
    assert code == 0, err
    code, out, err = finish(lazytrain("run", "fig1", "--quick", "--out", "local", "--workers", "1",
                                      "--no-progress", cwd=slurm))
    assert code == 0, err
    assert table(slurm / "viaslurm") == table(slurm / "local")


# ---------------------------------------------------------------------- refusals, no Slurm needed
def _spec(tmp_path, body=SMALL):
    path = tmp_path / "spec.toml"
    path.write_text(body)
    return path


def test_no_sbatch_on_path_is_a_clear_error_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = invoke("run", _spec(tmp_path), "--out", tmp_path / "o", "--executor", "slurm")
    assert result.exit_code == 1
    assert "no Slurm here: `sbatch` is not on PATH" in result.output
    assert not (tmp_path / "o").exists()


def test_no_slurm_controller_is_a_clear_error_before_anything_is_written(tmp_path, monkeypatch):
    _need(None if shutil.which("sbatch") else "no sbatch on PATH")
    with socket.socket() as s:  # a loopback port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "slurm.conf"
    conf.write_text(f"ClusterName=nowhere\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={port}\n"
                    "AuthType=auth/munge\nMessageTimeout=1\nTCPTimeout=1\n"
                    "NodeName=localhost NodeAddr=127.0.0.1 CPUs=1\n"
                    "PartitionName=debug Nodes=localhost Default=YES\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    result = invoke("run", _spec(tmp_path), "--out", tmp_path / "o", "--executor", "slurm", *LOOPBACK)
    assert result.exit_code == 1
    assert "no Slurm controller reachable: sbatch says:" in result.output
    assert "Unable to contact slurm controller" in result.output
    assert not (tmp_path / "o").exists()


def test_a_point_that_cannot_fit_in_one_job_is_refused_before_anything_is_submitted(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # (refused before Slurm is even looked for)
    big = _spec(tmp_path, 'n_neurons = [800]\nkinds = ["exact"]\n[task]\ntype = "paper"\nd = 200\n')
    result = invoke("run", big, "--out", tmp_path / "o", "--executor", "slurm", "--slurm-memory", "900MB")
    assert result.exit_code == 1
    message = result.output
    assert "n_neurons: the exact point at N = 800 (d = 200" in message
    assert "--slurm-memory 858 MiB per job of 1 core(s)" in message
    assert "raise the limit with --slurm-memory" in message
    assert not (tmp_path / "o").exists()
    # too little for the worker process itself
    result = invoke("run", big, "--out", tmp_path / "o", "--executor", "slurm", "--slurm-memory", "500MB")
    assert result.exit_code == 1 and "ask for at least 1 GiB" in result.output
    # --max-memory still caps a point, with the job sized from the spec
    result = invoke("run", big, "--out", tmp_path / "o", "--executor", "slurm", "--max-memory", "50MB")
    assert result.exit_code == 1 and "(--max-memory)" in result.output


def test_job_memory_comes_from_the_costliest_point_and_the_options_reach_the_script(tmp_path):
    spec = load_spec(_spec(tmp_path, 'n_neurons = [50, 400]\nkinds = ["exact"]\n[task]\ntype = "paper"\n'
                                     'd = 100\n'))
    need = spec.memory_estimate()
    plan = plan_jobs([spec], SlurmOptions(cores=3))
    # each of the 3 worker processes gets the costliest point's estimate and its own overhead,
    # rounded up to 256 MiB; the point limit leaves that overhead out
    per_worker = plan.job_memory // 3
    assert plan.processes == 3 and per_worker % 2**28 == 0
    assert need + PROCESS_OVERHEAD <= per_worker < need + PROCESS_OVERHEAD + 2**28
    assert plan.point_limit == per_worker - PROCESS_OVERHEAD
    script = plan.job_script("tcp://127.0.0.1:1234")
    assert f"#SBATCH --mem={plan.job_memory // 2**20}M" in script
    assert "#SBATCH --cpus-per-task=3" in script and "#SBATCH -t 04:00:00" in script
    assert "--nworkers 3" in script and "--nthreads 1" in script and "tcp://127.0.0.1:1234" in script

    options = SlurmOptions(jobs=5, cores=2, memory="3GB", partition="short", walltime="1-12:00:00",
                           account="proj_x", sbatch=("--qos=low", "#SBATCH --constraint=avx2"),
                           interface="lo")
    script = plan_jobs([spec], options).job_script()
    for line in ("#SBATCH -p short", "#SBATCH -A proj_x", "#SBATCH --cpus-per-task=2",
                 "#SBATCH --mem=2862M", "#SBATCH -t 1-12:00:00", "#SBATCH --qos=low",
                 "#SBATCH --constraint=avx2"):
        assert line in script.splitlines(), (line, script)
    assert "--memory-limit 1.40GiB" in script  # Dask's limit per worker: 3 GB / 2
    assert "--interface lo" in script and "--no-dashboard" in script and sys.executable in script


@pytest.mark.parametrize("field, value, said", [
    ("walltime", "4h", "slurm walltime must be a Slurm time"),
    ("partition", "a b", "slurm partition must be a name"),
    ("sbatch", ("--qos=x\n/bin/rm -rf ~",), "slurm sbatch lines must be one option each"),
    ("jobs", 0, "slurm jobs must be a positive integer, got 0"),
    ("memory", "lots", "max_memory must be a size"),
])
def test_bad_slurm_options_are_refused_naming_them(field, value, said):
    with pytest.raises(ValueError, match=re.escape(said)):
        SlurmOptions(**{field: value})


def test_slurm_options_need_the_slurm_executor_and_workers_do_not_apply(tmp_path):
    spec = _spec(tmp_path)
    result = invoke("run", spec, "--out", tmp_path / "o", "--slurm-jobs", "2")
    assert result.exit_code == 2 and "--slurm-jobs needs --executor slurm" in result.output
    result = invoke("run", spec, "--out", tmp_path / "o", "--executor", "slurm", "--workers", "2")
    assert result.exit_code == 2 and "--workers does not apply to --executor slurm" in result.output
    result = invoke("run", spec, "--out", tmp_path / "o", "--executor", "slurm", "--slurm-walltime", "2 days")
    assert result.exit_code == 2 and "slurm walltime must be a Slurm time" in result.output
    assert format_size(PROCESS_OVERHEAD) == "768 MiB"  # as --slurm-memory's help says
    assert "plus 768 MiB" in " ".join(invoke("run", "--help").output.split())


def test_ctrl_c_still_interrupts_after_dask_jobqueue_is_imported():
    """Importing dask_jobqueue sets SIGINT to sys.exit() (a silent exit 0 instead of Ctrl-C's
    'interrupted', seen here); lazytrain imports it with the handler kept."""
    code = ("import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from lazytrain.experiments.slurm import _jobqueue\n"
            "_jobqueue()\n"
            "sys.exit(0 if signal.getsignal(signal.SIGINT) is signal.default_int_handler else 3)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(SRC)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_sigterm_interrupts_a_slurm_run_like_ctrl_c():
    """`kill` or `timeout` on the driver: its jobs are cancelled on the way out, as with Ctrl-C.
    The keeper wakes the main thread the same way, whatever SIGINT's disposition."""
    import threading

    from lazytrain.experiments.slurm import TerminateAsInterrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), TerminateAsInterrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # (the signal arrives at once; this is never reached in full)
    assert signal.getsignal(signal.SIGTERM) is before
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a shell's background job
    try:
        with pytest.raises(KeyboardInterrupt), TerminateAsInterrupt() as interrupts:
            threading.Thread(target=interrupts.wake_main).start()
            time.sleep(5)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_keeper_counts_a_cancelled_job_once(monkeypatch):
    """A job that ended stays in the cluster's table until its replacement runs on the cluster's
    loop; the keeper must count it once, not once per look at squeue (three looks once stopped a
    run with 'jobs 121, 121, 121 ended before their worker reached the scheduler'). No Slurm needed:
    the cluster and squeue are stand-ins."""
    from types import SimpleNamespace

    from lazytrain.experiments import slurm as slurm_mod

    cluster = SimpleNamespace(workers={"w0": SimpleNamespace(job_id="121")}, worker_spec={},
                              scheduler_info={"workers": {}}, loop=SimpleNamespace(add_callback=lambda f: None))
    plan = SimpleNamespace(job_name="lazytrain-test", options=SimpleNamespace(log_dir=None))
    keeper = slurm_mod._JobKeeper(cluster, plan, jobs=1, interrupts=None, interval=60)
    monkeypatch.setattr(slurm_mod, "_squeue", lambda name: {"121"})
    keeper._tick()  # 121 is live
    monkeypatch.setattr(slurm_mod, "_squeue", lambda name: set())  # scancel 121
    for _ in range(slurm_mod.MAX_FAILED_STARTS + 1):
        keeper._tick()  # the replacement has not run yet: 121 is still in cluster.workers
    assert keeper.error is None and keeper._failed == ["121"] and keeper.replaced == ["121"]
