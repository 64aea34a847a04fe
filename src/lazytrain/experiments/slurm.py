"""Dask workers in Slurm jobs: the cluster behind ``--executor slurm``.

The driver (``lazytrain run``) keeps the store and a Dask scheduler; each
Slurm job runs Dask worker processes (dask-jobqueue's ``SLURMCluster``) that
compute points and send the results back. Nothing on a compute node writes
the store: SQLite has one writer, the driver.

Before anything is written or submitted (:func:`plan_jobs`, :func:`check_slurm`):

* the per-job memory request comes from the spec's memory estimate of its
  costliest point (:mod:`.limits`) plus :data:`PROCESS_OVERHEAD` for each worker
  process, a job of ``cores`` cores running ``cores // THREADS_PER_POINT``
  single-point worker processes; with an explicit ``memory`` a point that
  cannot fit in one worker's share is refused (SpecError);
* ``sbatch`` must be on PATH and the controller must accept the job script
  (``sbatch --test-only``): otherwise :class:`SlurmError` says which.

While the run goes on (:func:`slurm_cluster`), a keeper thread watches the
jobs in ``squeue``: a job that ended (``scancel``, walltime, a failed node)
is replaced by a new one, and Dask recomputes the points its workers held.
When jobs keep ending before any of their workers connects (a wrong Python
on the compute nodes, say), the run stops with a SlurmError instead of
waiting forever. At the end of the run, on an error or a Ctrl-C, every job
of the run is cancelled (``scancel``): nothing is left in ``squeue``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from . import limits
from .kinds import THREADS_PER_POINT
from .spec import SpecError

#: Memory of one worker process beyond its point's estimate: Python with torch, numpy and Dask
#: imported (about 300 MB measured), its nanny, and a margin for Dask's own bookkeeping.
PROCESS_OVERHEAD = 768 * 2**20
#: Per-worker memory requests are rounded up to a multiple of this.
MEMORY_STEP = 256 * 2**20
#: Jobs that end in a row before any of their workers connected: then the run stops.
MAX_FAILED_STARTS = 3
#: Seconds a worker waits for a scheduler that is gone (the driver killed) before its job ends.
DEATH_TIMEOUT = 60
#: Seconds between two looks at the run's jobs in ``squeue`` (one light query: kind to the controller).
SQUEUE_INTERVAL = 5.0
#: Seconds to wait for ``sbatch --test-only`` (a controller that does not answer).
SBATCH_TIMEOUT = 60

_WALLTIME = re.compile(r"(\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}|UNLIMITED|INFINITE)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9_.,+:@/-]+")


def _jobqueue():
    """dask_jobqueue, imported without its side effect: importing it replaces the SIGINT handler
    with ``sys.exit()`` (for its SLURMRunner), which turned a Ctrl-C into a silent exit 0."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    try:
        import dask_jobqueue
        import dask_jobqueue.slurm
    finally:
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)
    return dask_jobqueue


class SlurmError(RuntimeError):
    """No Slurm here, or Slurm refuses (or keeps ending) the worker jobs."""


@dataclass(frozen=True)
class SlurmOptions:
    """The Slurm side of ``--executor slurm``, with the usual Slurm meanings.

    jobs : worker jobs at once (fewer when the sweep has fewer points).
    cores : cores per job (``--cpus-per-task``); one worker process per THREADS_PER_POINT cores.
    memory : memory per job (``--mem``; '16GB' or bytes); default: sized from the spec.
    partition, account, walltime : ``-p``, ``-A``, ``-t``.
    sbatch : extra ``#SBATCH`` lines, e.g. ``('--qos=short', '--constraint=avx2')``.
    interface : network interface of the scheduler and the workers (e.g. 'ib0'; 'lo' when
        everything runs on this machine); default: Dask's choice.
    log_dir : folder of the jobs' output files; default: Slurm's (``slurm-JOBID.out`` in the
        directory ``lazytrain`` was started from).
    """

    jobs: int = 4
    cores: int = 1
    memory: int | str | None = None
    partition: str | None = None
    walltime: str = "04:00:00"
    account: str | None = None
    sbatch: tuple = ()
    interface: str | None = None
    log_dir: str | None = None

    def __post_init__(self):
        for name in ("jobs", "cores"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"slurm {name} must be a positive integer, got {value!r}")
        if self.cores % THREADS_PER_POINT:
            raise ValueError(f"slurm cores must be a multiple of THREADS_PER_POINT = {THREADS_PER_POINT} "
                             f"(one worker process per {THREADS_PER_POINT} cores), got {self.cores}")
        if self.memory is not None:
            limits.parse_size(self.memory)  # raises naming the value
        if not isinstance(self.walltime, str) or not _WALLTIME.fullmatch(self.walltime.strip()):
            raise ValueError(f"slurm walltime must be a Slurm time such as '30' (minutes), '04:00:00' or "
                             f"'2-00:00:00', got {self.walltime!r}")
        for name in ("partition", "account", "interface"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _WORD.fullmatch(value)):
                raise ValueError(f"slurm {name} must be a name (letters, digits, '_.,+:@/-'), got {value!r}")
        lines = (self.sbatch,) if isinstance(self.sbatch, str) else tuple(self.sbatch)
        clean = []
        for line in lines:
            if not isinstance(line, str) or "\n" in line or "\r" in line or not line.strip():
                raise ValueError(f"slurm sbatch lines must be one option each, such as '--qos=short', "
                                 f"got {line!r}")
            line = line.strip()
            clean.append(line[len("#SBATCH"):].strip() if line.startswith("#SBATCH") else line)
        object.__setattr__(self, "sbatch", tuple(clean))


@dataclass(frozen=True)
class SlurmPlan:
    """What each worker job asks for, decided before anything is submitted."""

    options: SlurmOptions
    processes: int      #: Dask worker processes per job, one point each at a time
    job_memory: int     #: bytes asked per job (``--mem``)
    point_limit: int    #: bytes a point may need (the specs were checked against it)
    point_need: int     #: the estimate of the costliest point
    job_name: str       #: ``-J``: one name per run, so that its jobs can be found and cancelled

    def job_kwargs(self, log_directory: bool = True) -> dict:
        """Keywords of dask-jobqueue's SLURMJob (and SLURMCluster)."""
        o = self.options
        kwargs = {
            # Dask's view: `processes` single-threaded workers; Slurm's: `cores` cores
            "cores": self.processes, "processes": self.processes, "job_cpu": o.cores,
            "memory": f"{self.job_memory}B",
            "job_mem": f"{math.ceil(self.job_memory / 2**20)}M",
            "walltime": o.walltime, "job_name": self.job_name,
            "job_extra_directives": list(o.sbatch),
            "interface": o.interface, "death_timeout": DEATH_TIMEOUT, "python": sys.executable,
            "worker_extra_args": ["--no-dashboard"],  # nothing listens that the run does not need
            "job_script_prologue": [
                # one BLAS/OpenMP thread per point (the workers pin it again on the first point)
                " ".join(["export"] + [f"{v}={THREADS_PER_POINT}" for v in
                                       ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")]),
                # a point's arrays are its own: no spilling, no pausing; the memory limit still
                # ends a worker that outgrows it (its points are then recomputed elsewhere)
                " ".join(["export"] + [f"DASK_DISTRIBUTED__WORKER__MEMORY__{k}=False"
                                       for k in ("TARGET", "SPILL", "PAUSE")]),
            ],
        }
        if o.partition:
            kwargs["queue"] = o.partition
        if o.account:
            kwargs["account"] = o.account
        if o.log_dir and log_directory:
            kwargs["log_directory"] = o.log_dir
        return kwargs

    def job_script(self, scheduler: str = "tcp://127.0.0.1:8786") -> str:
        """The batch script of one worker job (for ``scheduler``), as it will be submitted."""
        SLURMJob = _jobqueue().slurm.SLURMJob
        return SLURMJob(scheduler, name="lazytrain-worker", **self.job_kwargs(log_directory=False)).job_script()


def plan_jobs(specs, options: SlurmOptions, max_memory=None) -> SlurmPlan:
    """Size the worker jobs for ``specs`` and check each spec fits (SpecError if not).

    The memory request is, per worker process, the costliest point's estimate plus
    :data:`PROCESS_OVERHEAD`, unless ``options.memory`` gives it; ``max_memory`` (or the
    environment's LAZYTRAIN_MAX_MEMORY) caps what a point may use, as with the other executors.
    """
    processes = options.cores // THREADS_PER_POINT
    source, option = None, "--slurm-memory"
    peak = max(s.memory_estimate() for s in specs)
    if options.memory is None:
        per_process = math.ceil((peak + PROCESS_OVERHEAD) / MEMORY_STEP) * MEMORY_STEP
        job_memory = per_process * processes
    else:
        job_memory = limits.parse_size(options.memory)
        source = (f"--slurm-memory {limits.format_size(job_memory)} per job of {options.cores} "
                  f"core(s): {processes} worker process(es), each {limits.format_size(PROCESS_OVERHEAD)} "
                  "for itself")
    point_limit = job_memory // processes - PROCESS_OVERHEAD
    if point_limit <= 0:
        raise SpecError(f"invalid experiment spec:\n  --slurm-memory {options.memory}: a job of "
                        f"{options.cores} core(s) runs {processes} worker process(es), each needing about "
                        f"{limits.format_size(PROCESS_OVERHEAD)} for itself before any point; ask for at "
                        f"least {limits.format_size(processes * (PROCESS_OVERHEAD + MEMORY_STEP))}")
    explicit, explicit_source = limits.max_memory_setting(max_memory)
    if explicit is not None and explicit < point_limit:
        point_limit, source, option = explicit, explicit_source, explicit_source
    with limits.max_memory(point_limit, source or "the job's memory", option):
        for s in specs:
            try:
                s.check_memory()
            except ValueError as exc:
                raise SpecError(f"invalid experiment spec:\n  {exc}") from None
    name = f"lazytrain-{secrets.token_hex(4)}"
    return SlurmPlan(options, processes, job_memory, point_limit, peak, name)


def check_slurm(plan: SlurmPlan) -> None:
    """Raise SlurmError unless ``sbatch`` is on PATH and the controller accepts one worker job
    (``sbatch --test-only``: nothing is submitted)."""
    if shutil.which("sbatch") is None:
        raise SlurmError("--executor slurm: no Slurm here: `sbatch` is not on PATH (run lazytrain where "
                         "Slurm jobs are submitted, e.g. a login node, with Slurm's commands on PATH)")
    try:
        proc = subprocess.run(["sbatch", "--test-only"], input=plan.job_script(), capture_output=True,
                              text=True, timeout=SBATCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"--executor slurm: no Slurm controller answered `sbatch --test-only` in "
                         f"{SBATCH_TIMEOUT} s; check `scontrol ping`") from None
    if proc.returncode == 0:
        return
    said = " ".join((proc.stderr or proc.stdout or f"exit status {proc.returncode}").split())
    if re.search(r"controller|configuration source|connection refused|communication|socket timed out|"
                 r"slurm_conf|Unable to contact", said, re.IGNORECASE):
        raise SlurmError(f"--executor slurm: no Slurm controller reachable: sbatch says: {said}")
    o = plan.options
    asked = ", ".join(x for x in (f"--cpus-per-task={o.cores}",
                                  f"--mem={math.ceil(plan.job_memory / 2**20)}M",
                                  f"-t {o.walltime}", o.partition and f"-p {o.partition}",
                                  o.account and f"-A {o.account}", *o.sbatch) if x)
    raise SlurmError(f"--executor slurm: Slurm refuses the worker job ({asked}; the costliest point "
                     f"needs about {limits.format_size(plan.point_need)}): sbatch says: {said}")


def _squeue(job_name: str) -> set[str] | None:
    """Ids of the run's jobs still in squeue (None when squeue did not answer)."""
    try:
        proc = subprocess.run(["squeue", "-h", "-o", "%i", "-n", job_name], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(proc.stdout.split()) if proc.returncode == 0 else None


def _scancel(job_name: str) -> None:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(["scancel", "-n", job_name], capture_output=True, timeout=30)


class _JobKeeper(threading.Thread):
    """Replaces the run's jobs that ended; stops the run when they keep ending unstarted."""

    def __init__(self, cluster, plan: SlurmPlan, jobs: int, interrupts: TerminateAsInterrupt,
                 interval: float = None):
        super().__init__(name="lazytrain-slurm-keeper", daemon=True)
        self.cluster, self.plan, self.jobs = cluster, plan, jobs
        self.interval = SQUEUE_INTERVAL if interval is None else interval
        self.interrupts = interrupts
        self.error: SlurmError | None = None
        self.replaced: list[str] = []   #: ids of jobs that ended and were replaced
        self._jobs: dict[str, str] = {}   # id -> name of the jobs submitted and not seen ended
        self._ended: set[str] = set()     # ids seen ended (the cluster lists them until replaced)
        self._connected: set[str] = set()  # ids of jobs that had a worker connected
        self._failed: list[str] = []    # ids of jobs that ended in a row before connecting
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=30)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self._tick()
            except Exception:  # a bad tick must not end the keeper; the next one retries
                logging.getLogger(__name__).exception("slurm job keeper")

    def _tick(self) -> None:
        cluster = self.cluster
        current = {name: job.job_id for name, job in list(cluster.workers.items()) if job.job_id}
        # a job seen ended stays in cluster.workers until the replacement runs on the cluster's
        # loop: it must not come back here and be counted as ended (and as a failed start) again
        self._jobs.update({job_id: name for name, job_id in current.items() if job_id not in self._ended})
        groups = {}  # worker name -> job name
        for name, spec in list(cluster.worker_spec.items()):
            for suffix in spec.get("group", [""]):
                groups[f"{name}{suffix}"] = name
        for w in list(cluster.scheduler_info.get("workers", {}).values()):
            job_id = current.get(groups.get(str(w.get("name"))))
            if job_id and job_id not in self._connected:
                self._connected.add(job_id)
                self._failed.clear()
        live = _squeue(self.plan.job_name)
        if live is None:
            return
        ended = [job_id for job_id in self._jobs if job_id not in live]
        for job_id in ended:
            self._jobs.pop(job_id)
            self._ended.add(job_id)
            self.replaced.append(job_id)
            if job_id not in self._connected:
                self._failed.append(job_id)
        if len(self._failed) >= MAX_FAILED_STARTS:
            where = (f"{self.plan.options.log_dir}/{self.plan.job_name}-<id>.out" if self.plan.options.log_dir
                     else "slurm-<id>.out in the directory lazytrain was started from")
            self.error = SlurmError(
                f"--executor slurm: {len(self._failed)} worker jobs in a row ended before their Dask "
                f"worker reached the scheduler (job ids {', '.join(self._failed)}); their output is in "
                f"{where}. Check that {sys.executable} with lazytrain runs on the compute nodes and "
                "reaches this machine (--slurm-interface)")
            self._halt.set()
            self.interrupts.wake_main()  # the driver waits for results: wake it with the error
            return
        # the ended jobs' names: new jobs under new names (the cluster closes the old ones);
        # a name the cluster already dropped (a worker lost for 15 s) is started again
        stale = [name for name, job_id in current.items() if job_id in ended]

        def replace():
            for name in stale:
                cluster.worker_spec.pop(name, None)
            cluster.scale(jobs=self.jobs)

        cluster.loop.add_callback(replace)


class TerminateAsInterrupt:
    """While armed, SIGTERM (``kill``, ``timeout``, a batch system ending the driver's own job)
    interrupts the main thread like Ctrl-C, so that the run's jobs are cancelled on the way out
    instead of waiting DEATH_TIMEOUT seconds for their lost scheduler.

    :meth:`wake_main` sends that signal to the main thread from another one (the keeper), which
    works whatever SIGINT's disposition (a run started in the background of a shell has SIGINT
    ignored, and then ``_thread.interrupt_main`` does nothing: the run waited forever). Outside
    the main thread nothing is installed and nothing is woken.
    """

    def __init__(self):
        self.main = threading.current_thread() is threading.main_thread()
        self.armed = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.armed:  # (not during the clean-up that follows the first one)
            self.armed = False
            raise KeyboardInterrupt(f"signal {signum}")

    def __enter__(self):
        if self.main:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self.armed = True
        return self

    def __exit__(self, *exc):
        self.armed = False
        if self.main:
            signal.signal(signal.SIGTERM, self._previous)

    def wake_main(self) -> None:
        if self.main and self.armed:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


@contextlib.contextmanager
def slurm_cluster(plan: SlurmPlan, jobs: int):
    """A SLURMCluster of ``jobs`` worker jobs, kept at that size; every job cancelled on exit.

    Yields the keeper (``.address``: the scheduler's; ``.error``: why it stopped the run).
    """
    SLURMCluster = _jobqueue().SLURMCluster
    cluster = None
    keeper = None
    interrupts = TerminateAsInterrupt()
    try:
        interrupts.__enter__()
        cluster = SLURMCluster(scheduler_options={"dashboard_address": None}, silence_logs=logging.ERROR,
                               **plan.job_kwargs())
        keeper = _JobKeeper(cluster, plan, jobs, interrupts)
        keeper.address = cluster.scheduler_address
        cluster.scale(jobs=jobs)
        keeper.start()
        yield keeper
    except BaseException as exc:
        if keeper is not None and keeper.error is not None:
            raise keeper.error from exc
        raise
    finally:
        interrupts.armed = False
        if keeper is not None:
            keeper.stop()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=30)  # scancels the jobs it knows
        _scancel(plan.job_name)            # and any other of this run's (one being submitted)
        interrupts.__exit__(None, None, None)
