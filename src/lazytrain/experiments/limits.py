"""Size limits checked before anything runs: memory per point, and the length of a grid.

A spec whose largest point cannot fit in the memory available is refused
when it is validated, with the estimate and the limit, before the output
directory is touched and before the task is built (building a d = 25000
task alone takes 5 GB). The estimates are deliberately generous upper
bounds of the arrays the solvers hold at once (float64 unless the training
dtype says otherwise); they are not meant to be exact, only to turn a
doomed point into a clear message instead of a swap storm or a killed worker.

The limit is, in order: the ``max_memory`` argument (``--max-memory`` on the
command line), the environment variable ``LAZYTRAIN_MAX_MEMORY``, or the
memory available on this machine now (``MemAvailable``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os

from .._validation import _show, format_size, parse_size, sgd_memory
from .._validation import memory_limit as _memory_limit

#: A grid (n_neurons range table) may hold at most this many values; a larger one is refused
#: before it is materialised.
MAX_GRID = 10_000

_limit: contextvars.ContextVar = contextvars.ContextVar("lazytrain_max_memory", default=None)


def memory_limit() -> tuple[int, str]:
    """The per-point memory limit in bytes, and where it comes from."""
    explicit = _limit.get()
    if explicit is not None:
        return explicit[:2]
    return _memory_limit(None)


def max_memory_setting(limit=None) -> tuple[int | None, str | None]:
    """The limit set by hand, and where: ``limit`` ('8GB' or bytes, from --max-memory), else
    ``LAZYTRAIN_MAX_MEMORY``; (None, None) when neither is set."""
    if limit is not None:
        return parse_size(limit), "--max-memory"
    env = os.environ.get("LAZYTRAIN_MAX_MEMORY")
    if env:
        return parse_size(env), "LAZYTRAIN_MAX_MEMORY"
    return None, None


def _raise_option() -> str:
    explicit = _limit.get()
    return "--max-memory" if explicit is None else explicit[2]


@contextlib.contextmanager
def max_memory(limit, source: str = "--max-memory", option: str = "--max-memory"):
    """Within this block, specs are validated against ``limit`` (bytes or '8GB'; None: default).

    ``source`` says where the limit comes from and ``option`` how to raise it, in the refusal's
    message (the Slurm executor's limit is its job's memory, raised with --slurm-memory)."""
    token = _limit.set(None if limit is None else (parse_size(limit), source, option))
    try:
        yield
    finally:
        _limit.reset(token)


# ---------------------------------------------------------------------- estimates (bytes)
def task_memory(d: int) -> int:
    """Building a task: its d×d matrix and a few work copies (eigendecomposition), float64."""
    return 8 * 4 * d * d


# Each estimate returns its terms by the spec field that drives them ('N': the kind's N grid),
# so that a refusal can name the field to change.
def _theory(d, n, regime, training):
    return {"task.d": task_memory(d) + 8 * 4 * d * d}


def _exact(d, n, regime, training):
    # the N×N Gram matrices of the solvers (a few per mixture component), the N×d weights
    # and their products, and d×d work matrices
    return {"task.d": task_memory(d) + 8 * 4 * d * d, "N": 8 * (16 * n * n + 12 * n * d)}


def _sgd(d, n, regime, training):
    # ``n``: one width, or the widths of a group trained together (they share every batch)
    training = training or {}
    width = 8 if training.get("dtype") == "float64" else 4
    widths = list(n) if isinstance(n, (tuple, list)) else [n]
    return sgd_memory(d, widths, int(training.get("batch_size") or 100),
                      int(training.get("steps") or 0), width, regime)


def _generic(d, n, regime, training):
    out = dict(_exact(d, n, regime, training))
    if training:
        for k, v in _sgd(d, n, regime, training).items():
            out[k] = out.get(k, 0) + v
    return out


def _fit(d, n, regime, training):
    # what lazytrain.fit plans to hold for its largest sample (``training``: the [fit] table's
    # largest n_samples), plus the exact-risk moments of the fitted class
    from ..fitting import plan

    samples = int((training or {}).get("n_samples") or 1)
    terms = {"fit.n_samples": plan(regime, samples, n, d)[1]}
    if not regime.endswith("_kernel"):
        terms["N"] = _exact(d, n, regime, None)["N"]
    return terms


#: kind -> estimate(d, n, regime, training options) -> {field: bytes}. A kind not listed gets
#: :func:`_generic` (a kind with its own large arrays should add its estimate here).
ESTIMATES = {"theory": _theory, "exact": _exact, "sgd": _sgd, "fit": _fit}


def _terms(kind, d, n, regime, training) -> dict:
    n = tuple(int(k) for k in n) if isinstance(n, (tuple, list)) else int(n)
    return ESTIMATES.get(kind, _generic)(int(d), n, regime, training)


def point_memory(kind: str, d: int, n: int, regime: str = "nn", training: dict | None = None) -> int:
    """Estimated peak memory (bytes) of computing one point."""
    return int(sum(_terms(kind, d, n, regime, training).values()))


def check_task(d: int, field: str = "task.d") -> None:
    """Refuse a task too large to build (checked before building it)."""
    limit, source = memory_limit()
    need = task_memory(d)
    if need > limit:
        raise ValueError(f"{field}: d = {d}: building the task needs about {format_size(need)} "
                         f"(a {d}×{d} float64 matrix and work copies), more than the limit "
                         f"{format_size(limit)} ({source}); use a smaller d or raise the limit "
                         f"with {_raise_option()}")


#: What to change, by the field that drives a refused estimate.
ADVICE = {"training.steps": "use fewer steps (the schedule holds 16 bytes per step)",
          "training.batch_size": "use a smaller batch_size",
          "training.n_neurons": "use smaller widths, or split them into more training.groups",
          "fit.n_samples": "use fewer samples", "task.d": "use a smaller d"}


def check_points(d: int, kinds_grid, training: dict | None = None) -> None:
    """Refuse a spec whose costliest point of any kind exceeds the memory limit.

    ``kinds_grid``: (kind, largest N of that kind, regimes) triples; for SGD the N may be the
    widths of the costliest group trained together. The estimates grow with N, so the largest
    N of each kind is the one to check.
    """
    limit, source = memory_limit()
    for kind, n, regime, terms in _point_terms(d, kinds_grid, training):
        need = sum(terms.values())
        if need > limit:
            field = max(terms, key=terms.get)  # the field that drives the estimate
            what = f"N = {n}"
            if field == "N":
                field = "training.n_neurons" if kind == "sgd" else "n_neurons"
            if isinstance(n, (tuple, list)) and len(n) > 1:
                what = (f"widths {_show(list(n))} trained together (total N = {sum(n)}; "
                        "training.groups splits them)")
            elif isinstance(n, (tuple, list)):
                what = f"N = {n[0]}"
            raise ValueError(
                f"{field}: the {kind} point at {what} (d = {d}, regime {regime!r}) needs about "
                f"{format_size(need)} of memory, more than the limit {format_size(limit)} "
                f"({source}); {ADVICE.get(field, 'use smaller N, d or batch_size')}, or raise the "
                f"limit with {_raise_option()}")


def _point_terms(d: int, kinds_grid, training: dict | None):
    """(kind, N, regime, estimate terms) of each costliest point (see :func:`check_points`)."""
    for kind, n, regimes in kinds_grid:
        for regime in regimes:
            options = training if kind in ("sgd", "fit") else None
            yield kind, n, regime, _terms(kind, d, n, regime, options)


def peak_points(d: int, kinds_grid, training: dict | None = None) -> int:
    """The largest estimate (bytes) among the points :func:`check_points` would check, and the
    task's own (:func:`task_memory`): what one worker needs for the costliest point."""
    return int(max([task_memory(d)] + [sum(terms.values())
                                        for *_, terms in _point_terms(d, kinds_grid, training)]))


def grid_length(start: int, stop: int, step: int) -> int:
    return max(0, (stop - start) // step + 1)
