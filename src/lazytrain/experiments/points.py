"""Points: the independent units a spec expands into, and how one is computed.

A point is identified by :attr:`Point.key`, the SHA-256 of everything that
determines its value (the task's identity, regime, activation, N, kind,
seed and, for SGD, the training settings) and of nothing else: not the
spec's name, not the grid it sits in, not where it runs. The same point
asked for by two specs is computed once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field

from .kinds import KINDS, THREADS_PER_POINT
from .tasks import build_task, canonical_json

#: Bump when the meaning of a stored value changes, so old stores are not reused silently.
POINT_SCHEMA = 1

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Point:
    """One value to compute: a risk R/R0 for (task, regime, activation, N, kind, seed).

    Build points with :func:`expand`; ``key`` is filled in there.
    """

    task: str          #: the task recipe, JSON (what a worker builds the task from)
    task_identity: str  #: what determines the task, JSON (what is hashed)
    task_family: str   #: 'quadratic', 'mixture', ...: the table's ``task`` column
    task_params: str   #: short label of the task, e.g. ``paper(d=450, seed=100)``
    d: int
    regime: str
    activation: str
    n_neurons: int
    kind: str
    seed: int | None
    training: str | None = None  #: training settings, JSON (SGD points only)
    cotrained: tuple | None = None  #: the widths trained together with this one (SGD groups)
    key: str = field(default="", compare=False)

    def identity(self) -> dict:
        """Everything that determines the value (the hashed content)."""
        out = {"schema": POINT_SCHEMA, "task": json.loads(self.task_identity),
               "regime": self.regime, "activation": self.activation,
               "n_neurons": self.n_neurons, "kind": self.kind, "seed": self.seed,
               "training": json.loads(self.training) if self.training else None}
        if self.cotrained:
            out["cotrained"] = list(self.cotrained)
        return out

    def unit_id(self) -> tuple:
        """Points with the same unit id are computed together (one SGD group), else alone."""
        if not self.cotrained:
            return (self.key,)
        shared = {k: v for k, v in self.training_options.items() if k != "lr"}  # lr: per width
        return (self.task_identity, self.kind, self.regime, self.activation, self.seed,
                canonical_json(shared), self.cotrained)

    @property
    def training_options(self) -> dict:
        return json.loads(self.training) if self.training else {}

    @property
    def rho(self) -> float:
        return self.n_neurons / self.d

    def with_key(self) -> "Point":
        digest = hashlib.sha256(canonical_json(self.identity()).encode()).hexdigest()
        return Point(**{**self.__dict__, "key": digest})

    def label(self) -> str:
        seed = "" if self.seed is None else f" seed={self.seed}"
        return (f"{self.kind} {self.regime} {self.activation} N={self.n_neurons}{seed} "
                f"on {self.task_params} [{self.key[:12]}]")


def cotrain_groups(widths, count: int) -> list[tuple]:
    """Split the widths into ``count`` groups of about equal total width (the cost of a step).

    Largest width first, each into the group with the smallest total so far
    (ties: the first). The split depends only on the widths and ``count``
    (never on the workers), so the same spec always trains the same groups.
    """
    groups = [[] for _ in range(min(count, len(set(widths))))]
    for n in sorted(set(widths), reverse=True):
        min(groups, key=sum).append(n)
    return sorted(tuple(sorted(g)) for g in groups)


def resolved_training(settings, regime: str, d: int, n_neurons: int) -> str:
    """The training options of an SGD point as JSON: unset steps and lr replaced by the training
    code's defaults (so that the key changes if those defaults ever do), lr scaled for the width,
    and the default schedule's name where it is not the authors' for the regime."""
    options = settings.train_options()
    from ..train import DEFAULT_SCHEDULE, default_lr, default_steps

    if options["method"] == "sgd":
        # the schedule enters the key (so that values stored under the authors' schedule, named like
        # the regime, are not taken for another default's), except where the default is the authors'
        # (rf): there it is left out, whether written out or left to the default (the same key)
        schedule = options.pop("schedule", None) or DEFAULT_SCHEDULE[regime]
        if not schedule == DEFAULT_SCHEDULE[regime] == regime:
            options["schedule"] = schedule
    if options["steps"] is None:
        options["steps"] = default_steps(options["method"])
    if options["lr"] is None:
        options["lr"] = default_lr(regime, d, options["method"])
    options["lr"] = settings.lr_at(options["lr"], n_neurons)
    return canonical_json(options)


def expand(spec) -> list[Point]:
    """All the points of a spec, without repeats, in a stable order.

    theory: one point per (regime, activation, N); exact and sgd: one per seed
    as well (the seed of W, resp. of the training run). SGD points use the
    spec's SGD grid and regimes when it has them, and record the widths
    they are trained with (``training.groups``).
    """
    from ..regimes import get_regime

    task_json = canonical_json(spec.task.model_dump(mode="json"))
    identity = canonical_json(spec.task.identity())
    family, params, d = spec.task.family, spec.task.describe(), spec.task.d
    points, seen = [], set()
    for kind_name in spec.kinds:
        kind = KINDS[kind_name]
        grid = spec.neurons(kind_name)
        group_of = {}
        if kind.compute_many is not None:
            for group in cotrain_groups(grid, spec.training.groups):
                group_of.update({n: group if len(group) > 1 else None for n in group})
        if kind_name == "fit":
            points += [p for p in _fit_points(spec, task_json, identity, family, params, d)
                       if p.key not in seen and not seen.add(p.key)]
            continue
        for activation in spec.activations:
            for regime in spec.regimes_for(kind_name):
                if spec.unavailable_reason(kind_name, regime, activation):
                    continue  # reported by unavailable_points
                own = get_regime(regime, any_regime=True)
                for n in grid:
                    if own.table:  # the regime's own settings (e.g. one point per step size η of one-step)
                        settings = [canonical_json(o) for o in own.point_options(getattr(spec, own.table), d)]
                    else:
                        settings = [resolved_training(spec.training, regime, d, n) if kind.trained else None]
                    for training in settings:
                        for seed in (spec.seeds if kind.seeded else [None]):
                            p = Point(task_json, identity, family, params, d, regime, activation, int(n),
                                      kind_name, seed, training, group_of.get(n)).with_key()
                            if p.key not in seen:
                                seen.add(p.key)
                                points.append(p)
    return points


def unavailable_points(spec) -> list[dict]:
    """The (kind, regime, activation) combinations of a spec that have no value, with the reason.

    Their points are left out of :func:`expand`; runs and reports list them.
    Each entry: kind, regime, activation, n_neurons (the grid) and reason.
    """
    out = []
    for kind_name in spec.kinds:
        for activation in spec.activations:
            for regime in spec.regimes_for(kind_name):
                reason = spec.unavailable_reason(kind_name, regime, activation)
                if reason:
                    grid = (spec.fit_neurons(regime) if kind_name == "fit" else spec.neurons(kind_name))
                    out.append({"kind": kind_name, "regime": regime, "activation": activation,
                                "n_neurons": list(grid), "reason": reason})
    return out


def _fit_points(spec, task_json, identity, family, params, d):
    """The fit points: one per (activation, regime, N, n_samples, ridge, seed); the fit settings
    (n_samples, ridge, ...) are the point's ``training`` JSON, hence part of its identity."""
    for activation in spec.activations:
        for regime in spec.regimes_for("fit"):
            if spec.unavailable_reason("fit", regime, activation):
                continue  # reported by unavailable_points
            for n in spec.fit_neurons(regime):
                for n_samples in spec.fit.n_samples:
                    for ridge in spec.fit.ridges:
                        settings = canonical_json(spec.fit.options(n_samples, ridge))
                        for seed in spec.seeds:
                            yield Point(task_json, identity, family, params, d, regime, activation,
                                        int(n), "fit", seed, settings).with_key()


_pinned: dict = {}


def pin_threads(n: int = THREADS_PER_POINT) -> None:
    """Pin this process's BLAS/OpenMP pools to ``n`` threads (environment + threadpoolctl).

    Called once in every worker; idempotent.
    """
    if _pinned.get("n") == n:
        return
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    from threadpoolctl import threadpool_limits

    import scipy.linalg  # noqa: F401  (load the BLAS the solvers use, so that it is pinned too)

    _pinned["limiter"] = threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    _pinned["n"] = n


def device_name() -> str:
    """What computed the point: 'cpu (machine, processor)'."""
    return f"cpu ({platform.machine()}, {platform.processor() or 'unknown'})"


def _result(point: Point, risk: float, extra: dict, wall: float) -> dict:
    from .._version import __version__

    device = point.training_options.get("device", "cpu") if point.training else "cpu"
    return {"key": point.key, "risk": float(risk), "extra": extra, "wall_s": wall,
            "package_version": __version__,
            "device": device_name() if device == "cpu" else device, "host": platform.node()}


def compute_point(point: Point, pin: bool = True) -> dict:
    """Compute one point; return its risk and provenance.

    Returns
    -------
    dict with keys key, risk, extra, wall_s, package_version, device, host.
    """
    if pin:
        pin_threads()
    task = build_task(point.task)
    start = time.perf_counter()
    risk, extra = KINDS[point.kind].compute(task, point)
    return _result(point, risk, extra, time.perf_counter() - start)


def compute_unit(points, pin: bool = True) -> list[dict]:
    """Compute a unit of work: one point, or a group of points computed together.

    A group (same :meth:`Point.unit_id`) goes to its kind's ``compute_many``;
    each point's ``wall_s`` is its share of the group's time.
    """
    points = list(points)
    if len(points) == 1 and not points[0].cotrained:
        return [compute_point(points[0], pin)]
    if pin:
        pin_threads()
    task = build_task(points[0].task)
    start = time.perf_counter()
    values = KINDS[points[0].kind].compute_many(task, points)
    share = (time.perf_counter() - start) / len(points)
    return [_result(p, risk, extra, share) for p, (risk, extra) in zip(points, values)]


def work_units(points) -> list[list[Point]]:
    """Group points into units of work (see :meth:`Point.unit_id`), keeping the order."""
    units: dict = {}
    for p in points:
        units.setdefault(p.unit_id(), []).append(p)
    return [sorted(u, key=lambda p: p.n_neurons) for u in units.values()]
