"""Running a spec: skip the stored points, compute the others, store each as it finishes.

Two executors compute the costly points, and only the driver (this
process) writes the store:

* ``local``: a pool of worker processes on this machine
  (:class:`concurrent.futures.ProcessPoolExecutor`, spawn context);
* ``dask``: a Dask distributed cluster, either a ``LocalCluster`` started
  here or an existing scheduler given by its address;
* ``slurm``: Dask workers in Slurm jobs (:mod:`.slurm`), submitted from here:
  the Dask path, with a cluster that this run starts and cancels.

Cheap points (theory) are computed inline by the driver. Every point is
computed with :data:`~.kinds.THREADS_PER_POINT` BLAS/OpenMP/torch threads
wherever it runs, so the same spec gives the same numbers whichever
executor ran it and however many workers it had.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from . import limits
from .kinds import KINDS, THREADS_PER_POINT
from .points import Point, compute_point, compute_unit, expand, pin_threads, work_units
from .spec import SpecError
from .store import ResultStore, StoreError

EXECUTORS = ("local", "dask", "slurm")


class PointError(RuntimeError):
    """A point failed; the message names it. Points stored before it are kept."""

    def __init__(self, point: Point, exc: BaseException):
        detail = (str(exc) if isinstance(exc, _WorkerDied) else
                  "".join(traceback.format_exception_only(type(exc), exc)).strip())
        super().__init__(f"point {point.label()} failed: {detail}")
        self.point = point


class RunTerminated(KeyboardInterrupt):
    """The driver got SIGTERM: the run stops as on Ctrl-C and is recorded as 'terminated'."""

    exit_code = 128 + 15


#: How many times a point may be in flight on a worker process that dies (killed, out of memory, a
#: crash in native code) before the run gives up on it, as Dask's ``allowed-failures``.
MAX_WORKER_DEATHS = 3


@dataclass(frozen=True)
class RunSummary:
    """What a run did: points in the spec, already stored, computed now."""

    out: Path
    spec_name: str
    keys: tuple = field(repr=False)  #: keys of all the spec's points, in expansion order
    skipped: int         #: already in the store
    computed: int        #: computed by this run
    run_id: int | None   #: None when there was nothing to compute
    wall_s: float
    unavailable: tuple = ()  #: (kind, regime, activation) combinations without a value, with the reason

    @property
    def total(self) -> int:
        return len(self.keys)


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _cost(unit):
    """Rough cost order for longest-first scheduling: SGD (by steps × total width) before exact
    (by N), so that the long units start first and the short ones fill the gaps."""
    steps = unit[0].training_options.get("steps") or 0
    return (bool(steps), steps * sum(p.n_neurons for p in unit) * unit[0].d,
            sum(p.n_neurons for p in unit))


def _results(finished, unit_of):
    """(unit, results) for each finished future; a failed unit raises PointError."""
    for future in finished:
        unit = unit_of(future)
        try:
            results = future.result()
        except Exception as exc:
            raise PointError(unit[0], exc) from exc
        yield unit, results


# ---------------------------------------------------------------------- local executor
def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:  # the driver died (even by SIGKILL): stop working
            os._exit(1)


def _user_activations_blob() -> bytes | None:
    """The activations registered in this process (``register_activation``), cloudpickled for workers."""
    from ..activations import user_activations

    registered = user_activations()
    if not registered:
        return None
    import cloudpickle

    return cloudpickle.dumps(registered)


def _install_user_activations(blob: bytes | None) -> None:
    """Register the driver's user activations in a worker process, so that points can name them."""
    if blob is None:
        return
    import pickle

    from ..activations import register_activation

    for name, act in pickle.loads(blob).items():
        register_activation(name, act, overwrite=True)


def _init_local_worker(parent_pid: int, activations: bytes | None = None) -> None:
    pin_threads(THREADS_PER_POINT)
    _install_user_activations(activations)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


@contextlib.contextmanager
def _sigint_held_back():
    """Hold Ctrl-C back while worker processes start, without losing it.

    SIGINT is *blocked* (not ignored) in the driver's thread while the workers are spawned:
    they inherit the blocked mask through fork and exec, so a Ctrl-C sent to the whole process
    group never reaches a worker that is importing (no traceback from each of them; the driver
    stops them itself), while the driver's own Ctrl-C stays pending and is delivered, as a
    KeyboardInterrupt, as soon as the block is lifted. (Ignoring it instead, as before, dropped
    a Ctrl-C that arrived during the spawn: the run went on; seen on a loaded machine.) Where
    signal masks do not exist (Windows), SIGINT is ignored during the spawn.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # signals are the main thread's business: leave them alone
        return
    if hasattr(signal, "pthread_sigmask"):
        # The mask is per thread: a Ctrl-C sent to the process may be taken by another thread
        # (BLAS, Dask), whose Python handler would raise inside the window. So the window also
        # records it, and delivers it again, to this thread, once the window is closed.
        caught = []
        handler = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending Ctrl-C arrives here
            signal.signal(signal.SIGINT, handler)
            if caught:
                signal.raise_signal(signal.SIGINT)  # to the handler there was before the window
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_now(pool) -> None:
    """Stop a process pool at once: cancel what is queued and kill the running workers
    (a point being computed is lost; it was not stored, so the next run computes it)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.kill()
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(timeout=5)


def _marked_unit(marks: str, unit):
    """compute_unit, with a file in ``marks`` while it runs: after a worker dies, the files left
    name the units that were in flight."""
    mark = Path(marks) / f"{unit[0].key}.{os.getpid()}"
    mark.touch()
    try:
        return compute_unit(unit)
    finally:
        mark.unlink(missing_ok=True)


class _WorkerDied(RuntimeError):
    """A local worker process died while computing the unit (in isolation) MAX_WORKER_DEATHS times."""

    def __init__(self, deaths: int, others: int = 0):
        also = f" ({others} other point(s) failed the same way)" if others else ""
        super().__init__(f"the worker process computing it died {deaths} times (killed, out of memory, "
                         f"or a crash in native code){also}; the other points were computed and stored")


@contextlib.contextmanager
def _local_executor(workers: int):
    """Local worker processes. A worker that dies breaks its whole pool (every point in flight
    fails with BrokenProcessPool); the points are then computed again on fresh workers: the ones
    that were in flight are retried one at a time, so that the point that kills its worker is
    told apart from its neighbours and given up after :data:`MAX_WORKER_DEATHS` deaths."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    initargs = (os.getpid(), _user_activations_blob())
    pools = []
    marks = tempfile.TemporaryDirectory(prefix="lazytrain-inflight-")

    def new_pool(n):
        pool = ProcessPoolExecutor(max_workers=n, mp_context=context,
                                   initializer=_init_local_worker, initargs=initargs)
        pools.append(pool)
        return pool

    def run(units):
        pending = {u[0].key: u for u in units}
        deaths: dict = {}  # unit key -> times it was in flight on a worker that died
        barren = 0  # pools in a row that died before finishing any unit
        given_up = []
        while pending:
            suspects = [k for k in pending if deaths.get(k)]
            batch = [pending[suspects[0]]] if suspects else list(pending.values())
            pool = new_pool(1 if suspects else min(workers, len(batch)))
            with _sigint_held_back():
                futures = {pool.submit(_marked_unit, marks.name, u): u for u in batch}  # starts the workers
            broken = False
            finished = 0
            for future in as_completed(futures):
                unit = futures[future]
                if isinstance(future.exception(), BrokenProcessPool):
                    broken = True
                    continue
                del pending[unit[0].key]
                finished += 1
                yield from _results([future], futures.__getitem__)
            if broken:
                _stop_now(pool)
            else:
                pool.shutdown(wait=True)
            if not broken:
                continue
            barren = 0 if finished else barren + 1
            in_flight = {m.name.split(".")[0] for m in Path(marks.name).iterdir()}
            for m in Path(marks.name).iterdir():
                m.unlink(missing_ok=True)
            for key in in_flight & set(pending):
                deaths[key] = deaths.get(key, 0) + 1
                if deaths[key] >= MAX_WORKER_DEATHS:  # give up on it; compute the others
                    given_up.append(pending.pop(key))
            if not in_flight and barren >= MAX_WORKER_DEATHS:
                raise RuntimeError(f"the local worker processes died {barren} times before computing "
                                   "any point (at start-up?); see the messages above")
        if given_up:
            raise PointError(given_up[0][0], _WorkerDied(MAX_WORKER_DEATHS, len(given_up) - 1))

    run.workers = workers
    try:
        yield run
    except BaseException:
        for pool in pools:
            _stop_now(pool)
        raise
    else:
        for pool in pools:
            pool.shutdown(wait=True)
    finally:
        marks.cleanup()


# ---------------------------------------------------------------------- dask executor
@contextlib.contextmanager
def _dask_executor(workers: int, scheduler: str | None, processes: bool = True):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:  # pragma: no cover - dask is a dependency
        raise RuntimeError("the dask executor needs dask distributed: pip install 'dask[distributed]'") from err

    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                # reachable (check_scheduler) but maybe not a scheduler: fail in 15 s, not 30
                client = stack.enter_context(Client(scheduler, timeout="15s"))
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        else:
            with _sigint_held_back():  # the nannies and workers start with Ctrl-C held back
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=processes,
                    dashboard_address=None, silence_logs=logging.WARNING,
                    # no dashboard; the scheduler's HTTP endpoints (health, metrics) on the
                    # loopback, on a free port (dashboard_address=None alone still listens on 8787)
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(Client(cluster))
        blob = _user_activations_blob()
        if blob is not None:  # the driver's register_activation names, on every worker
            client.run(_install_user_activations, blob)

        def run(units):
            by_key = {}
            for u in units:
                future = client.submit(compute_unit, u, key=f"lazytrain-point-{u[0].key}", pure=False)
                by_key[future.key] = (u, future)
            try:
                yield from _results(as_completed([f for _, f in by_key.values()]),
                                    lambda future: by_key[future.key][0])
            finally:
                client.cancel([f for _, f in by_key.values()])

        run.workers = len(client.scheduler_info().get("workers", {}))
        yield run


# ---------------------------------------------------------------------- slurm executor
@contextlib.contextmanager
def _slurm_executor(plan, jobs: int):
    """The Dask executor on a Slurm cluster of ``jobs`` worker jobs, cancelled on exit."""
    from .slurm import slurm_cluster

    with slurm_cluster(plan, jobs) as keeper, _dask_executor(0, keeper.address) as run:
        run.workers = jobs * plan.processes
        yield run


# ---------------------------------------------------------------------- the driver
def run_spec(spec, out, executor: str = "local", workers: int | None = None,
             scheduler: str | None = None, progress: bool = True,
             dask_processes: bool = True, max_memory=None, slurm=None) -> RunSummary:
    """Compute every point of ``spec`` not yet stored in ``out``; store each as it finishes.

    Parameters
    ----------
    spec : ExperimentSpec, or a list of them
        Several specs run as one sweep: their points share the workers, the
        costliest first (``lazytrain reproduce all``).
    out : path
        Output directory; its ``results.sqlite`` is created if missing.
    executor : {'local', 'dask', 'slurm'}
        Where the costly points run (theory points are computed inline).
    workers : int, optional
        Worker processes (local, or the LocalCluster's); default: the CPUs
        available. Ignored with ``scheduler`` (the cluster has its workers).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); implies
        ``executor='dask'``.
    progress : bool
        Show a progress bar (points done out of the spec's, time left).
    dask_processes : bool
        LocalCluster with worker processes (True) or threads (False).
    max_memory : int or str, optional
        Memory limit per point ('8GB' or bytes; default ``LAZYTRAIN_MAX_MEMORY`` or the
        memory available): a spec with a larger point is refused before anything is written.
        With ``executor='slurm'`` the limit is the worker's share of its job's memory.
    slurm : SlurmOptions, optional
        With ``executor='slurm'``: the worker jobs (count, cores, memory, partition, walltime,
        account, extra ``#SBATCH`` lines; see :class:`.slurm.SlurmOptions`). Slurm is checked
        (``sbatch`` on PATH, the controller accepts one job) before anything is written.

    Returns
    -------
    RunSummary

    Raises
    ------
    SpecError
        A point of the spec needs more memory than the limit.
    StoreError
        The output directory holds a foreign or corrupt store, cannot be written (with
        points left to compute), or another run uses it.
    PointError
        A point failed; the points stored before it are kept, and running
        again resumes after them.
    SlurmError
        No Slurm reachable, Slurm refuses the worker job, or the jobs keep
        ending before their workers start.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    if scheduler and executor != "dask":
        raise ValueError("a scheduler address needs executor='dask'")
    if slurm is not None and executor != "slurm":
        raise ValueError("slurm options need executor='slurm'")
    if executor == "slurm" and workers is not None:
        raise ValueError("workers does not apply to executor='slurm': the slurm options' jobs and "
                         "cores say how many workers run")
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    start = time.perf_counter()
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if executor == "slurm":  # the memory is the job's; Slurm must be there: before anything is written
        from .slurm import SlurmOptions, check_slurm, plan_jobs

        slurm_plan = plan_jobs(specs, slurm or SlurmOptions(), max_memory)
        check_slurm(slurm_plan)
    else:
        with limits.max_memory(max_memory):
            for s in specs:  # before anything is written: the limit may be lower than at loading
                try:
                    s.check_memory()
                except ValueError as exc:
                    raise SpecError(f"invalid experiment spec:\n  {exc}") from None
    points = list({p.key: p for s in specs for p in expand(s)}.values())
    unavailable = tuple(u for s in specs for u in s.unavailable())
    keys = tuple(p.key for p in points)
    name = "+".join(s.name for s in specs)
    with ResultStore.open_or_create(out) as store:
        done = store.keys()
        todo = [p for p in points if p.key not in done]
        skipped = len(points) - len(todo)
        if not todo and (store.readonly or not _unfinished(store, name)):
            return RunSummary(Path(out), name, keys, skipped, 0, None, time.perf_counter() - start,
                              unavailable)
        if todo and store.readonly:
            raise StoreError(f"{str(store.path)!r} is read-only and {len(todo)} of the spec's "
                             f"{len(points)} points are not stored yet; make it writable or "
                             "choose another output directory")
        with store.exclusive():
            done = store.keys()  # (another run may have finished meanwhile)
            todo = [p for p in points if p.key not in done]
            skipped = len(points) - len(todo)
            if not todo:
                # the last run of this spec stopped after storing its last point (Ctrl-C,
                # SIGTERM, a kill): record that the spec is now complete
                run_id = None
                if _unfinished(store, name):
                    run_id = store.begin_run(specs, executor, 0)
                    store.end_run(run_id, "done")
                return RunSummary(Path(out), name, keys, skipped, 0, run_id,
                                  time.perf_counter() - start, unavailable)
            cheap = [p for p in todo if KINDS[p.kind].cheap]
            costly = sorted(work_units(p for p in todo if not KINDS[p.kind].cheap), key=_cost,
                            reverse=True)
            n_workers = min(workers or default_workers(), len(costly)) if costly else 0
            if scheduler and costly:  # before anything is stored: fail at once, not after 30 s
                check_scheduler(scheduler)
            if executor == "slurm":  # jobs of slurm_plan.processes workers, no more than the units need
                n_jobs = max(1, min(slurm_plan.options.jobs, -(-len(costly) // slurm_plan.processes)))
                n_workers = n_jobs * slurm_plan.processes
            run_id = store.begin_run(specs, executor, None if scheduler else n_workers)
            restore_sigterm = _sigterm_interrupts()
            try:
                if cheap:
                    _compute_inline(store, cheap, run_id)
                if costly:
                    n_costly = sum(len(u) for u in costly)
                    bar = tqdm(total=len(points), initial=len(points) - n_costly, unit="pt",
                               desc=f"{name} ({executor})", disable=not progress, smoothing=0.05)
                    context = (_local_executor(n_workers) if executor == "local"
                               else _slurm_executor(slurm_plan, n_jobs) if executor == "slurm"
                               else _dask_executor(n_workers, scheduler, dask_processes))
                    with bar, context as run:
                        if scheduler:
                            store.set_run_workers(run_id, run.workers)
                        for unit, results in run(costly):
                            store.add_many(zip(unit, results), run_id)  # a group: all or nothing
                            bar.update(len(unit))
            except KeyboardInterrupt as exc:
                store.end_run(run_id, "terminated" if isinstance(exc, RunTerminated) else "interrupted")
                raise
            except BaseException as exc:
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                store.end_run(run_id, f"failed: {why}"[:500])
                raise
            finally:
                restore_sigterm()
            store.end_run(run_id, "done")
    return RunSummary(Path(out), name, keys, skipped, len(todo), run_id, time.perf_counter() - start,
                      unavailable)


def _unfinished(store: ResultStore, name: str) -> bool:
    """Whether the latest run of the spec(s) ``name`` ended other than 'done' (and none runs now)."""
    mine = [r for r in store.runs() if r["spec_name"] == name]
    return bool(mine) and mine[-1]["status"] not in ("done", "running")


def _sigterm_interrupts():
    """Make SIGTERM stop the run as Ctrl-C does (raising :class:`RunTerminated`, so that the run is
    recorded as 'terminated' and the workers are stopped); returns the function restoring the
    previous handler. Signals are the main thread's business: elsewhere, nothing changes."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise RunTerminated()

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """RuntimeError, within ``timeout`` seconds, if nothing listens at a Dask scheduler's address
    (tcp:// and tls://; other protocols are left to Dask)."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise ValueError(f"--scheduler {address!r} is not a scheduler address such as "
                         f"tcp://10.0.0.5:8786 ({exc})") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or exc
        raise RuntimeError(f"cannot reach the Dask scheduler at {address!r} ({why} after at most "
                           f"{timeout:g} s); nothing was computed or stored") from None


def _compute_inline(store: ResultStore, points, run_id: int) -> None:
    """Compute cheap points here, each stored in its own transaction as it finishes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=THREADS_PER_POINT):
        for point in points:
            try:
                result = compute_point(point, pin=False)
            except Exception as exc:
                raise PointError(point, exc) from exc
            store.add(point, result, run_id)
