"""Issue 17 C2-C5: memory refused up front in the API (exact_risk, fit, train, degree_risks), the
SGD estimate of widths trained together checked against a measured peak, a .npy refused from its
header, and two bad calls (a task that is not a task, weights given to a kernel regime)."""

import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import lazytrain as lt
from lazytrain._validation import MemoryLimitError, parse_size, sgd_memory
from lazytrain.experiments import limits
from lazytrain.experiments.spec import SpecError, validate_spec


def _refused_fast(call, match):
    """``call`` raises MemoryLimitError matching ``match`` in well under a second, allocating
    (traced by Python's allocator, numpy included) under 20 MB."""
    import lazytrain.train  # noqa: F401  (torch imported before tracing)

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(MemoryLimitError, match=match) as info:
            call()
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 0.5 and peak < 20e6, (seconds, peak)
    return str(info.value)


def test_the_api_refuses_a_job_too_large_before_allocating():
    task = lt.QuadraticTarget.paper(d=100)
    # 200 000 neurons without their memory: a read-only broadcast view
    W = np.broadcast_to(np.full(100, 0.1), (200_000, 100))
    msg = _refused_fast(lambda: lt.exact_risk(task, "nt", W), r"exact_risk\(regime='nt', N=200000")
    assert "needs about" in msg and "TiB" in msg and "max_memory" in msg
    _refused_fast(lambda: lt.exact_risk(task, "rf", W, "relu"), "needs about")
    hermite = lt.HermiteTarget(np.eye(2, 100), [[0.0, 1.0, 0.5], [0.0, 1.0, 0.5]])
    _refused_fast(lambda: lt.degree_risks(hermite, "nt", W, "relu"), r"degree_risks\(regime='nt'")
    small = lt.random_weights(100, 50, seed=0)
    _refused_fast(lambda: lt.fit(task, "rf", small, 10**7, max_memory="1GB"), "n_samples=10000000")
    _refused_fast(lambda: lt.train(task, "rf", 4000, batch_size=10**6, max_memory="1GB"),
                  r"total N = 4000.*batch_size = 1000000")
    # the group of the issue: all widths share each batch, so the sum of the widths counts
    msg = _refused_fast(lambda: lt.train_sweep(task, "rf", list(range(200, 4001, 200)), batch_size=20000,
                                               max_memory="3GB"), "total N = 42000")
    assert "2.79 GiB (max_memory)" in msg


def test_max_memory_takes_sizes_as_the_cli_does():
    task = lt.QuadraticTarget.paper(d=12)
    W = lt.random_weights(12, 6, seed=3)
    assert parse_size("4GB") == 4 * 10**9 and parse_size("512MiB") == 2**29 and parse_size(1e6) == 10**6
    with pytest.raises(MemoryLimitError, match=r"more than the limit 1000 B \(max_memory\)"):
        lt.exact_risk(task, "rf", W, "relu", max_memory="1kB")
    with pytest.raises(ValueError, match="max_memory must be a size such as '8GB'"):
        lt.exact_risk(task, "rf", W, max_memory="lots")
    assert lt.exact_risk(task, "rf", W, "relu", max_memory="4GB") == lt.exact_risk(task, "rf", W, "relu")
    assert isinstance(MemoryLimitError("x"), MemoryError) and isinstance(MemoryLimitError("x"), ValueError)


# The peak resident memory of this process: VmHWM belongs to the process's own address space (new
# at exec), whereas Linux keeps ru_maxrss across exec, so a child of a large pytest would inherit it.
_PEAK = """
import json, sys
import lazytrain as lt, torch
torch.set_num_threads(1)

def hwm():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))

regime, widths, batch = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
task = lt.QuadraticTarget.paper(d=30)
before = hwm()
lt.train_sweep(task, regime, widths, steps=3, batch_size=batch, lr=1e-3, n_test=1000)
print(json.dumps(hwm() - before))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM (Linux)")
@pytest.mark.parametrize("regime", ["rf", "nn"])
def test_the_sgd_estimate_of_widths_trained_together_covers_the_measured_peak(regime):
    """The peak resident memory of a train_sweep in a fresh process (VmHWM, minus the
    imports) is below the estimate, and not far below it. (The estimate used to count the
    largest width alone, as if each width were trained by itself.)"""
    widths, batch = [300, 600, 900, 1200], 6000
    out = subprocess.run([sys.executable, "-c", _PEAK, regime, json.dumps(widths), str(batch)],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    peak = int(out.stdout.split()[-1])
    estimate = sum(sgd_memory(30, widths, batch, 3, 4, regime).values())
    assert peak <= estimate <= 4 * peak, (peak, estimate)


def test_a_spec_counts_the_widths_of_an_sgd_group_together():
    spec = {"name": "group", "regimes": ["rf"], "kinds": ["sgd"], "task": {"type": "paper", "d": 30},
            "n_neurons": {"start": 200, "stop": 4000, "step": 200},
            "training": {"batch_size": 20000, "steps": 10}}
    with limits.max_memory("3GB"):
        with pytest.raises(SpecError, match=r"trained together \(total N = 42000; training.groups"):
            validate_spec(spec)
        # each width alone (20 groups) fits
        validate_spec({**spec, "training": {**spec["training"], "groups": 20}})


def test_a_npy_is_checked_from_its_header(tmp_path):
    big = tmp_path / "big.npy"
    with open(big, "wb") as fh:  # a 20000×20000 float64 header over a sparse file: 3.2 GB, no data
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (20000, 20000)})
        fh.truncate(20000 * 20000 * 8 + 128)
    (tmp_path / "text.npy").write_text("1 2\n3 4\n")
    (tmp_path / "dir.npy").mkdir()
    os.mkfifo(tmp_path / "fifo.npy")
    cases = {str(big): "d = 20000: building the task needs about",
             str(tmp_path / "text.npy"): "is not a .npy file written by numpy.save",
             str(tmp_path / "dir.npy"): "is a directory",
             str(tmp_path / "fifo.npy"): "is not a regular file",
             "/dev/zero": "is not a regular file",
             str(tmp_path / "none.npy"): "no such file"}
    for path, match in cases.items():
        tracemalloc.start()
        try:
            with limits.max_memory("1GB"), pytest.raises(SpecError, match=match):
                validate_spec({"name": "npy", "n_neurons": [2], "task": {"type": "npy", "path": path}})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 20e6, (path, peak)


def test_a_task_that_is_not_a_task_is_named():
    for call in (lambda: lt.train("paper", "nn", 10), lambda: lt.exact_risk("paper", "rf", np.eye(3)),
                 lambda: lt.fit("paper", "rf", np.eye(3), 10)):
        with pytest.raises(ValueError, match=r"task must be a lazytrain task: QuadraticTarget.*got str 'paper'"):
            call()


def test_a_kernel_fit_refuses_weights():
    task = lt.QuadraticTarget.paper(d=6)
    W = lt.random_weights(6, 4, seed=0)
    for regime in ("rf_kernel", "nt_kernel"):
        with pytest.raises(ValueError, match=rf"W: regime '{regime}' is the infinite-width kernel limit"):
            lt.fit(task, regime, W, 20)
    assert 0 < lt.fit(task, "rf_kernel", None, 20).risk <= 1.5
