"""Experiment specs: what to compute, validated on load.

A spec names one task, the regimes, activations, an N grid (or a ρ = N/d
grid), seeds, the kinds of risk (theory, exact, sgd) and the training
settings of the SGD points. It is read from a TOML file or taken from a
named preset (:data:`PRESETS`); a preset is just a spec. Every invalid
field raises :class:`SpecError` naming the field and what is allowed.

Example TOML::

    name = "spectra-exponential"
    regimes = ["rf", "nt", "nn"]
    n_neurons = {start = 20, stop = 200, step = 20}
    seeds = [0, 1, 2]
    kinds = ["theory", "exact"]

    [task]
    type = "spectrum"
    spectrum = "exponential"
    d = 200
    seed = 3
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt, PrivateAttr,
                      SerializeAsAny, ValidationError, create_model, field_validator, model_validator)

from .._validation import _show, check_device, no_duplicates, normalise_name
from ..activations import get_activation
from ..regimes import ALL_REGIMES, REGISTRY
from . import limits
from .kinds import KINDS
from .tasks import TASK_TYPES, NpyTarget

Regime = Literal[ALL_REGIMES]  # every registered regime
KindName = Literal["theory", "exact", "sgd", "fit"]
FitRegime = Literal["rf", "nt", "rf_kernel", "nt_kernel"]

#: The ``[task]`` table: one recipe per ``type`` (see :data:`.tasks.TASK_TYPES`).
TaskField = Annotated[Union[tuple(TASK_TYPES.values())], Field(discriminator="type")]


def _check_builds(recipe) -> None:
    """Build the task once, so that a task the code refuses is reported on load, naming ``task``."""
    from .tasks import build_task, canonical_json

    try:
        build_task(canonical_json(recipe.model_dump(mode="json")))
    except ValueError as exc:
        raise ValueError(f"task: {exc}") from None


#: Longest spec name (it names files and report sections); the description may be 100× longer.
MAX_NAME = 200
#: Largest base step size accepted (a step this large diverges at once in every parametrisation).
MAX_LR = 1e6


class SpecError(ValueError):
    """An invalid experiment spec; the message names each bad field and what is allowed."""


#: Model settings of every spec table: unknown fields refused, strict types (no bool for an
#: int, no string for a number), finite floats only.
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _int_grid(value):
    """Accept a list of ints or an inclusive range table ``{start, stop, step}``.

    A range is refused before it is materialised when it holds more than
    :data:`.limits.MAX_GRID` values.
    """
    if isinstance(value, dict):
        unknown = set(value) - {"start", "stop", "step"}
        if unknown or not {"start", "stop"} <= set(value):
            raise ValueError("a grid table must have the keys start, stop and optionally step "
                             f"(an inclusive range), got keys {sorted(value)}")
        start, stop, step = value["start"], value["stop"], value.get("step", 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)):
            raise ValueError(f"start, stop and step must be integers, got {value}")
        if step < 1 or stop < start:
            raise ValueError(f"need step >= 1 and stop >= start, got {value}")
        count = limits.grid_length(start, stop, step)
        if count > limits.MAX_GRID:
            raise ValueError(f"the range {value} holds {count} values; a grid may hold at most "
                             f"{limits.MAX_GRID} (use a larger step)")
        return list(range(start, stop + 1, step))
    if isinstance(value, list) and len(value) > limits.MAX_GRID:
        raise ValueError(f"a grid may hold at most {limits.MAX_GRID} values, got {len(value)}")
    return value


def _names(value):
    """Names (regimes, kinds, activations) follow one rule everywhere: case and surrounding
    spaces do not matter (see :func:`lazytrain._validation.normalise_name`)."""
    if isinstance(value, list):
        return [normalise_name(v) for v in value]
    return value




class TrainingSettings(BaseModel):
    """Settings of the SGD points (``kinds`` containing ``'sgd'``).

    ``None`` means the training code's own default (the paper's budget).
    ``n_neurons`` / ``rho`` / ``regimes`` restrict the SGD points to a
    coarser grid than the theory and exact points (SGD is the costly kind).

    ``lr_exponent`` and ``lr_reference_n``: wider networks may need smaller
    steps; width N then trains with lr·(lr_reference_n/N)^lr_exponent.

    ``schedule``: the step-size schedule by name (``lazytrain.train.SCHEDULES``:
    'nn', 'rf', 'nt' are the authors' step-downs, 'anneal' and 'constant');
    None: the training code's default for the regime (``DEFAULT_SCHEDULE``).

    ``alpha`` and ``a0``: the laziness dial of ``lazytrain.train`` (regime
    'nn'; None: the mean-field network) and the law of the per-neuron
    second-layer start ('signs' or 'ones'; None: the training code's
    'signs'). ``shared_a``: False trains per-neuron second-layer weights
    from a0 (None: the training code's default, one shared scalar for the
    mean-field NN). Unset (None) they are not part of the points' identity (so
    stores made before they existed stay valid).

    ``offset_mult``: η_c, the step multiplier of the output offset c (None: the training code's
    ``DEFAULT_OFFSET_MULT``). Figure 3 sets 10, the value its ReLU settings were measured with.

    ``groups``: the SGD widths of one (regime, activation, seed) are split
    into this many groups of about equal total width, each trained as one
    run on one stream of samples (``lazytrain.train_sweep``: much faster
    than one run per width); groups run in parallel on different workers.
    1 (default): all widths together; as many as widths: every width alone.
    A network trained in a group equals the one trained alone up to float
    rounding, so the group is part of each point's identity.
    """

    model_config = STRICT

    steps: PositiveInt | None = None
    batch_size: PositiveInt = 100
    lr: Annotated[float, Field(gt=0, le=MAX_LR)] | None = None
    dtype: Literal["float32", "float64", "bfloat16"] = "float32"
    method: Literal["sgd", "flow"] = "sgd"
    device: str = "cpu"
    n_neurons: list[PositiveInt] | None = Field(None, min_length=1)
    rho: list[PositiveFloat] | None = Field(None, min_length=1)
    regimes: list[Regime] | None = Field(None, min_length=1)
    groups: Annotated[int, Field(ge=1, le=limits.MAX_GRID)] = 1
    lr_exponent: float = Field(0.0, allow_inf_nan=False)
    lr_reference_n: PositiveInt | None = None
    alpha: PositiveFloat | None = Field(None, allow_inf_nan=False)
    a0: Literal["signs", "ones"] | None = None
    shared_a: bool | None = None
    schedule: str | None = None
    offset_mult: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None

    _grid = field_validator("n_neurons", mode="before")(lambda v: _int_grid(v))
    _normalise = field_validator("regimes", "dtype", "method", mode="before")(
        lambda v: normalise_name(v) if isinstance(v, str) else _names(v))

    @field_validator("n_neurons", "rho", "regimes")
    @classmethod
    def _unique(cls, v, info):
        return no_duplicates(info.field_name, v)

    @field_validator("a0")
    @classmethod
    def _a0(cls, v):
        return None if v == "signs" else v  # the training code's default, written out: same points

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        return check_device(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v):
        from ..train import SCHEDULES  # the schedules are the training code's

        if v is not None and normalise_name(v) not in SCHEDULES:
            raise ValueError(f"training.schedule must be one of {sorted(SCHEDULES)}, got {v!r}")
        return v if v is None else normalise_name(v)

    @model_validator(mode="after")
    def _one_grid(self):
        if self.n_neurons is not None and self.rho is not None:
            raise ValueError("give at most one of training.n_neurons and training.rho")
        if self.lr_exponent != 0 and self.lr_reference_n is None:
            raise ValueError("training.lr_reference_n is required when training.lr_exponent is "
                             "not 0 (the step size at N is lr·(lr_reference_n/N)^lr_exponent)")
        return self

    #: Fields that choose which points exist or how the step is scaled with N, rather than
    #: being passed to the training code. Every other field is a training option: it is
    #: passed to ``lazytrain.train``, hashed into the point's identity and shown as a column
    #: of the results table (so a new setting needs no code beyond its field).
    GRID_FIELDS: ClassVar[frozenset] = frozenset(
        {"n_neurons", "rho", "regimes", "groups", "lr_exponent", "lr_reference_n"})

    def train_options(self) -> dict:
        """The keyword arguments passed to ``lazytrain.train`` (what determines an SGD value).

        An option left unset (None) means the training code's default: ``steps`` and ``lr``
        are then filled in with the default's value when points are made (so the key changes
        if that default does), any other unset option is left out, so that adding an
        optional setting does not change the identity of the points that do not use it.
        """
        return {k: v for k, v in self.model_dump(exclude=set(self.GRID_FIELDS)).items()
                if v is not None or k in ("steps", "lr")}

    def lr_at(self, lr: float, n_neurons: int) -> float:
        """The step size of width N: lr·(lr_reference_n/N)^lr_exponent (lr itself by default)."""
        if self.lr_exponent == 0:
            return lr
        return lr * (self.lr_reference_n / n_neurons) ** self.lr_exponent


class FitSettings(BaseModel):
    """Settings of the ``fit`` points (``kinds`` containing ``'fit'``): predictors fitted on n samples.

    One point per (regime, N, n_samples, ridge, seed); the seed draws both W
    and the training sample. ``ridges`` holds numbers λ ≥ 0 (the penalty
    λN‖β‖² of :func:`lazytrain.fit`) or ``"tuned"``: the λ of ``ridge_grid``
    with the least population risk for that draw (an oracle). ``regimes``
    may include the kernel limits ``rf_kernel`` / ``nt_kernel`` (one point
    per n, ridge and seed, stored with N = 0). ``n_neurons`` may be a table
    ``{rf = [...], nt = [...]}`` giving a regime its own N grid (default:
    the spec's grid).
    """

    model_config = STRICT

    n_samples: list[PositiveInt] = Field(min_length=1)
    ridges: list[Union[Literal["tuned"], Annotated[float, Field(ge=0, allow_inf_nan=False)]]] = Field(
        [0.0], min_length=1)
    ridge_grid: list[PositiveFloat] = Field([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], min_length=1)
    regimes: list[FitRegime] | None = Field(None, min_length=1)
    n_neurons: dict[Literal["rf", "nt"], list[PositiveInt]] | None = None
    second_layer: bool = False

    @field_validator("n_samples", "ridges", "regimes")
    @classmethod
    def _unique(cls, v, info):
        return no_duplicates(info.field_name, v)

    def options(self, n_samples: int, ridge) -> dict:
        """The settings that determine a fit point's value (part of its identity)."""
        out = {"n_samples": int(n_samples), "ridge": ridge, "second_layer": self.second_layer}
        if ridge == "tuned":
            out["ridge_grid"] = list(self.ridge_grid)
        return out


class _SpecFields(BaseModel):
    """A validated experiment: one task, and the grid of points to compute on it.

    Points: for every regime, activation and N, one ``theory`` point (no
    seed), one ``exact`` point per seed (seed of the random weights W) and
    one ``sgd`` point per seed (seed of the training run).
    """

    model_config = STRICT

    name: str = Field("experiment", pattern=r"^[A-Za-z0-9_.\-]+$", max_length=MAX_NAME)
    description: str = Field("", max_length=100 * MAX_NAME)
    task: SerializeAsAny[TaskField]
    regimes: list[Regime] = Field(["rf", "nt", "nn"], min_length=1)
    activations: list[str] = Field(["quadratic"], min_length=1)
    n_neurons: list[PositiveInt] | None = Field(None, min_length=1)
    rho: list[PositiveFloat] | None = Field(None, min_length=1)
    seeds: list[NonNegativeInt] = Field([0], min_length=1)
    kinds: list[KindName] = Field(["theory", "exact"], min_length=1)
    training: TrainingSettings = TrainingSettings()
    fit: FitSettings | None = None
    # (plus one optional table per regime with settings of its own, e.g. one_step: see ExperimentSpec)

    #: (kind, regime, activation, reason) that cannot be computed (see :mod:`.checks`); None: not
    #: probed yet.
    _unavailable: list | None = PrivateAttr(None)

    _grid = field_validator("n_neurons", mode="before")(lambda v: _int_grid(v))
    _normalise = field_validator("regimes", "activations", "kinds", mode="before")(lambda v: _names(v))

    @field_validator("regimes", "activations", "n_neurons", "rho", "seeds", "kinds")
    @classmethod
    def _unique(cls, v, info):
        return no_duplicates(info.field_name, v)

    @field_validator("activations")
    @classmethod
    def _known_activations(cls, v):
        return [get_activation(a).name for a in v]

    @model_validator(mode="after")
    def _consistent(self):
        if (self.n_neurons is None) == (self.rho is None):
            raise ValueError("give exactly one of n_neurons (a list of N, or {start, stop, step}) "
                             "and rho (a list of N/d)")
        why = self.task.unavailable()
        if why:
            raise ValueError(f"task.type {self.task.type!r} is not available: {why}")
        self.neurons()  # every rho must give N >= 1
        if ("fit" in self.kinds) != (self.fit is not None):
            raise ValueError("kinds has 'fit' exactly when a [fit] table (n_samples, ridges) is given")
        for table, regime in REGIME_TABLES.items():
            if (regime.name in self.regimes) != (getattr(self, table) is not None):
                raise ValueError(f"regimes has {regime.name!r} exactly when a [{table}] table "
                                 f"({', '.join(regime.Settings.model_fields)}) is given")
        if not isinstance(self.task, NpyTarget):  # (checked with its file in validate_spec)
            self.check_memory()  # before importing torch (kinds) or building the task: fast
        for kind in self.kinds:
            why = KINDS[kind].unavailable()
            if why:
                raise ValueError(f"kinds: {kind!r} is not available: {why}")
        if not isinstance(self.task, NpyTarget):
            _check_builds(self.task)
        if ("sgd" in self.kinds and self.training.a0 is not None and self.training.alpha is None
                and self.regimes_for("sgd") == ["nn"]):
            raise ValueError(f"training.a0 = {self.training.a0!r} has no effect here: the mean-field NN "
                             "(no training.alpha) trains one shared second-layer scalar from 0; a0 is "
                             "the start of the per-neuron a_i of the lazy NN (training.alpha), RF and "
                             "NT. Set training.alpha or remove a0")
        if "sgd" in self.kinds and self.training.alpha is not None:
            others = [r for r in self.regimes_for("sgd") if r != "nn"]
            if others:
                raise ValueError(f"training.alpha (lazy scaling) applies to the 'nn' regime only; the "
                                 f"SGD points also have regimes {others} (set training.regimes = ['nn'])")
        return self

    def check_memory(self) -> None:
        """Refuse (ValueError naming the field) a task or point too large for the memory limit
        (see :mod:`.limits`): checked before the task is built or anything is written."""
        limits.check_task(self.d)
        for kinds_grid, options in self._costliest_points():
            limits.check_points(self.d, kinds_grid, options)

    def memory_estimate(self) -> int:
        """Estimated peak memory (bytes) of the spec's costliest point: what one worker needs
        (the estimates :meth:`check_memory` compares with the limit)."""
        return max(limits.peak_points(self.d, kinds_grid, options)
                   for kinds_grid, options in self._costliest_points())

    def _costliest_points(self):
        """(kinds_grid, options) for :func:`.limits.check_points`: the costliest N of each kind."""
        out = [([(k, self.costliest_n(k), self.regimes_for(k)) for k in self.kinds if k != "fit"],
                self.training.train_options())]
        if self.fit is not None:
            samples = {"n_samples": max(self.fit.n_samples)}
            out += [([("fit", max(self.fit_neurons(regime)), [regime])], samples)
                    for regime in self.regimes_for("fit")]
        return out

    def costliest_n(self, kind: str):
        """The N that drives a point's memory: the largest N, or for SGD the widths of the group
        with the largest total width, trained together (they share every batch, ``training.groups``)."""
        if kind == "sgd" and self.training.method == "sgd":
            from .points import cotrain_groups

            return max(cotrain_groups(self.neurons("sgd"), self.training.groups), key=sum)
        return max(self.neurons(kind))

    # ----------------------------------------------------------------- grids
    @property
    def d(self) -> int:
        return self.task.d

    def _to_neurons(self, n_neurons, rho, field: str) -> list[int]:
        if n_neurons is not None:
            return list(n_neurons)
        out = []
        for r in rho:
            n = round(r * self.d)
            if n < 1:
                raise ValueError(f"{field}: rho = {r} gives N = round(rho * d) = {n} at d = {self.d}; "
                                 f"use rho >= {0.5 / self.d:.3g}")
            out.append(n)
        return out

    def neurons(self, kind: str | None = None) -> list[int]:
        """The N grid of a kind (SGD may have its own, see :class:`TrainingSettings`)."""
        t = self.training
        if kind == "sgd" and (t.n_neurons is not None or t.rho is not None):
            return self._to_neurons(t.n_neurons, t.rho, "training.rho")
        return self._to_neurons(self.n_neurons, self.rho, "rho")

    def regimes_for(self, kind: str) -> list[str]:
        if kind == "sgd" and self.training.regimes is not None:
            return list(self.training.regimes)
        if kind == "fit":
            if self.fit.regimes is not None:
                return list(self.fit.regimes)
            return [r for r in self.regimes if r in ("rf", "nt")]
        return list(self.regimes)

    def unavailable(self) -> list[dict]:
        """Combinations (kind, regime, activation) with no value, and why (e.g. no NN theory for ReLU).

        Known before anything runs; runs leave those points out and reports list them.
        """
        from .points import unavailable_points

        return unavailable_points(self)

    def unavailable_reason(self, kind: str, regime: str, activation: str) -> str | None:
        """Why the points (kind, regime, activation) cannot be computed, or None (see :mod:`.checks`)."""
        if self._unavailable is None:
            from .checks import probe

            self._unavailable = probe(self)
        for k, r, a, reason in self._unavailable:
            if (k, r, a) == (kind, regime, activation):
                return reason
        return None

    def fit_neurons(self, regime: str) -> list[int]:
        """The N grid of the fit points of a regime ([0]: the kernel limits, N = ∞)."""
        if regime.endswith("_kernel"):
            return [0]
        grids = self.fit.n_neurons or {}
        return list(grids[regime]) if regime in grids else self.neurons("fit")

    def with_updates(self, **updates) -> "ExperimentSpec":
        """A re-validated copy with some fields replaced."""
        data = self.model_dump(mode="json")
        data.update(updates)
        return validate_spec(data)



#: spec table -> the regime whose settings it holds (``[one_step]``: the regime 'one-step').
REGIME_TABLES = {cls.table: cls for cls in REGISTRY.values() if cls.table}

#: The spec: :class:`_SpecFields` and one optional table per regime with settings of its own, so
#: that a new regime with settings is its own file and a registry line (lazytrain.regimes).
ExperimentSpec = create_model(
    "ExperimentSpec", __base__=_SpecFields, __module__=__name__, __doc__=_SpecFields.__doc__,
    **{table: (cls.Settings | None, None) for table, cls in REGIME_TABLES.items()})


#: The spec's tables: field -> its model (for 'allowed fields' messages).
TABLES = {"training": TrainingSettings, "fit": FitSettings,
          **{table: cls.Settings for table, cls in REGIME_TABLES.items()}}


def _model_at(loc) -> type[BaseModel] | None:
    """The pydantic model holding the field at ``loc`` (for 'allowed fields' messages)."""
    model: type[BaseModel] | None = ExperimentSpec
    for part in loc:
        if model is ExperimentSpec and part == "task":
            model = None  # the next part is the task type tag
            continue
        if model is None and part in TASK_TYPES:
            model = TASK_TYPES[part]
            continue
        if model is ExperimentSpec and part in TABLES:
            model = TABLES[part]
            continue
        return None
    return model


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        kind = err["type"]
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = sorted(f for f in model.model_fields if f != "type") if model else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = f"unknown field; {hint}the allowed fields here are {allowed}"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "union_tag_invalid":
            msg = f"type must be one of {sorted(TASK_TYPES)}, got {err['input'].get('type')!r}"
        elif kind == "union_tag_not_found":
            msg = f"the task needs a type, one of {sorted(TASK_TYPES)}"
        elif kind not in ("value_error", "assertion_error"):
            msg = f"{msg} (got {_show(err['input'])})"
        clean = [p for i, p in enumerate(loc) if not (i == 1 and loc[0] == "task" and p in TASK_TYPES)]
        field = ".".join(str(p) for p in clean)
        lines.append(f"{field}: {msg}" if field else msg)
    return "invalid experiment spec:\n  " + "\n  ".join(lines)


def validate_spec(data: dict, base_dir: Path | None = None) -> ExperimentSpec:
    """Validate a spec given as a dict (the content of a TOML file).

    Relative ``task.path`` entries are resolved against ``base_dir``.
    """
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a table of fields, got {type(data).__name__}")
    task = data.get("task")
    if base_dir is not None and isinstance(task, dict) and isinstance(task.get("path"), str):
        path = Path(task["path"]).expanduser()
        data = {**data, "task": {**task, "path": str(path if path.is_absolute() else base_dir / path)}}
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format(exc)) from None
    try:
        if isinstance(spec.task, NpyTarget):
            pinned = spec.task.pinned()
            spec = spec.model_copy(update={"task": pinned})
            spec.check_memory()
            _check_builds(pinned)
        from .checks import check_feasible

        check_feasible(spec)
    except ValueError as exc:
        raise SpecError(f"invalid experiment spec:\n  {exc}") from None
    return spec
