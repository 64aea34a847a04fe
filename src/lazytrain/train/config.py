"""The validated, frozen configuration of a training run, and the training defaults.

:class:`TrainConfig` gathers every keyword of :func:`lazytrain.train` / :func:`lazytrain.train_sweep`
(resolved: defaults filled in from the regime and d, names normalised, one step size and one α
per width) and checks each at construction, with an error that names the parameter. The SGD loop
and the flow read only the config.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import check_choice, check_device, check_positive_float, check_positive_int
from ..activations import Activation, get_activation
from ..regimes import Regime, capabilities, check_regime, get_regime

#: Named step-size schedules, as (fraction of the steps, lr factor): the authors' step-down
#: schedules (their scripts for arXiv:1906.08899) and a constant step.
SCHEDULES = {
    "nn": ((0.7, 1.0), (0.15, 0.1), (0.15, 1 / 15)),   # MeanFieldNN_Quadratic.py
    "rf": ((0.8, 1.0), (0.1, 0.1), (0.1, 1 / 15)),     # NTK_Training_Quadratic.py
    "nt": ((0.8, 1.0), (0.1, 0.1), (0.1, 1 / 15)),
    "constant": ((1.0, 1.0),),
    # the NN default since 2026-12-03: the step-down half of the run in four phases (DEFAULT_SCHEDULE)
    "anneal": ((0.5, 1.0), (0.15, 0.2), (0.15, 0.1), (0.2, 0.05)),
}

#: The schedule each regime trains with by default (a key of ``SCHEDULES``). RF: the authors'.
#: NN: 'anneal', 50 % of the steps at ε then 15 % at ε/5, 15 % at ε/10 and 20 % at ε/20. With
#: the authors' 70/15/15 % at ε, ε/10, ε/15 the NN ended +0.005 to +0.006 above Theorem 3 at
#: N = 30-120 (d = 450): the risk is still falling at the end, as SGD's noise from the constant
#: phase (which hovers 0.02-0.05 above) anneals slowly at the small final steps, and the risk
#: there already stops falling by 10 % of the run. Half the run at ε and a longer, lower descent:
#: +0.003 to +0.004; 50/25/25 % at ε, ε/10, ε/15 gave +0.0034 to +0.0041 (docs/reproduction.md).
#: NT: a constant step whose noise the tail average removes (``DEFAULT_AVERAGE``):
#: at d = 450 the authors' step-downs left NT 0.014 above its exact risk at N = 90, where the
#: risk is all SGD noise that the short ε/10, ε/15 phases do not anneal (a tangent direction
#: relaxes at a rate ∝ ε/N); the constant step with the average of its last half ends 0.006
#: above (docs/reproduction.md, "RF and NT trained by the same SGD").
DEFAULT_SCHEDULE = {"nn": "anneal", "rf": "rf", "nt": "constant"}

#: Fraction of the steps at the end of an SGD run whose iterates are averaged (Polyak–Ruppert
#: tail averaging, :class:`lazytrain.train.sgd.TailAverage`); 0: the last iterate. NT averages
#: its last half (see ``DEFAULT_SCHEDULE``); for the NN the average of the last 30 % (the two
#: step-down phases) was worse than the last iterate at d = 450 (+0.008 to +0.010 against
#: +0.005 at N = 30-120: the risk is still descending there), so the NN keeps the last iterate.
DEFAULT_AVERAGE = {"nn": 0.0, "rf": 0.0, "nt": 0.5}

#: Regimes whose SGD steps are preconditioned by default (``precondition``), with an even
#: quadratic activation: NT, whose tangent features are ill-conditioned for N near d (at d = 450
#: plain SGD ended 0.08 / 0.11 above the exact risk at N = 390 / 450 after 10⁵ steps;
#: preconditioned, 0.0014 / 0.0019). The preconditioner is the Gram of the tangent features for
#: σ = u² only; with ReLU (d = 20, N = 40, 4000 steps) it was worse than plain SGD (0.77 against
#: 0.64, exact 0.16), so other activations train plain by default.
DEFAULT_PRECONDITION = ("nt",)

#: η_c, the offset's step multiplier (see docs/reproduction.md for the measurement).
DEFAULT_OFFSET_MULT = 30.0

#: Laws of the per-neuron second-layer start a0_i (see :func:`train`).
A0_LAWS = ("signs", "ones")

#: Training precisions. 'bfloat16' is mixed precision: the step's matrix products (x·W and the
#: weight update) run in bfloat16 on the hardware's bf16 units, everything else (master weights,
#: elementwise work, the averaging state, the risks) in float32/float64 (models.StackedModel).
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


#: CPU flags (Linux /proc/cpuinfo) of units that multiply bfloat16 matrices in hardware.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def bf16_available(device="cpu", cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (checked at run time).

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: one of ``BF16_CPU_FLAGS`` among the flags of
    ``cpuinfo`` (AVX-512 BF16 dot products or AMX tiles); False where the file is missing (other
    systems), so that such machines train in float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open(cpuinfo) as fh:
            flags = {word for line in fh if line.startswith("flags") for word in line.split()}
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def default_steps(method: str = "sgd") -> int:
    """Default number of SGD steps (or flow steps); chosen by measurement, docs/reproduction.md.

    The same for every regime and dimension (the step size, :func:`default_lr`, is what depends
    on them)."""
    if method not in ("sgd", "flow"):
        raise ValueError(f"method must be 'sgd' or 'flow', got {method!r}")
    if method == "flow":
        return 1500
    return 100_000


def default_lr(regime: str, d: int, method: str = "sgd") -> float:
    """Default base step size; chosen by measurement, docs/reproduction.md.

    For the flow it is the initial time step (it then adapts). SGD: 2·10⁻³,
    and for the NN above d = 300 the smaller 0.6/d (1.33·10⁻³ at d = 450):
    the stability limit of the step falls like 1/d, and at d = 450 the step
    2·10⁻³ kept the constant phase at the noise level (risk 0.12-0.28) and
    left the NN 0.014 above Theorem 3 at N = 450 after 10⁵ steps, where 0.6/d
    ends at 0.00025 (docs/reproduction.md, "The NN floor").

    NT: 5·10⁻³, with its defaults of a constant schedule, the tail average
    of the last half (``DEFAULT_AVERAGE``) and the Gram preconditioner
    (``DEFAULT_PRECONDITION``). Preconditioned, every tangent direction
    relaxes at a rate ≈ 8ε/N per step (σ = u², docs/reproduction.md), so
    the step is what sets how far the slowest ones get in 10⁵ steps; the
    average removes the noise that a larger step leaves, and 5·10⁻³ is
    about a sixth of the step at which gradient descent on a batch of 2000
    becomes unstable at d = 450 (``stable_scale``: 0.029, set by the offset c with
    η_c = 30 together with the trace of M). Measured at d = 450 (N = 90, 300,
    390, 450): within 0.006 of the exact NT risk, against +0.014 to +0.11
    with the authors' 2·10⁻³ and step-downs.
    """
    if method == "flow":
        return 0.02
    if regime == "nn":
        return min(2e-3, 0.6 / d)
    if regime == "nt":
        return 5e-3
    return 2e-3


def _check_lrs(lr, regime, d, method, k):
    if lr is None:
        return [default_lr(regime, d, method)] * k
    if isinstance(lr, numbers.Real) or np.ndim(lr) == 0:
        return [check_positive_float("lr", lr)] * k
    lrs = [check_positive_float("lr", x) for x in lr]
    if len(lrs) != k:
        raise ValueError(f"lr must be one number or one per width ({k}), got {len(lrs)} values")
    return lrs


def _check_schedule(schedule, regime):
    if schedule is None:
        return SCHEDULES[DEFAULT_SCHEDULE[regime]]
    if isinstance(schedule, str):
        return SCHEDULES[check_choice("schedule", schedule, tuple(SCHEDULES))]
    try:
        sched = tuple((float(f), float(g)) for f, g in schedule)
    except (TypeError, ValueError):
        raise ValueError(
            f"schedule must be a name in {sorted(SCHEDULES)} or pairs (fraction, factor), got {schedule!r}"
        ) from None
    if not sched or any(f <= 0 or g <= 0 or not np.isfinite(f + g) for f, g in sched):
        raise ValueError(f"schedule needs positive finite (fraction, factor) pairs, got {schedule!r}")
    return sched


def _check_average(average) -> float:
    if (isinstance(average, (bool, str, bytes)) or not isinstance(average, numbers.Real)
            or not 0.0 <= float(average) < 1.0):
        raise ValueError(f"average must be a fraction of the steps in [0, 1) (0: no averaging), "
                         f"got {average!r}")
    return float(average)


def _check_precondition(precondition, regime, act) -> bool:
    if precondition is None:  # derived and measured for σ = u² (the Gram of the tangent features)
        return regime.name in DEFAULT_PRECONDITION and bool(capabilities(None, act, regime).closed_form)
    if not isinstance(precondition, (bool, np.bool_)):
        raise ValueError(f"precondition must be True or False, got {precondition!r}")
    if precondition and not regime.tangent:
        raise ValueError(f"precondition=True (the Gram preconditioner of the tangent weights) "
                         f"applies to regime 'nt', got regime={regime.name!r}")
    return bool(precondition)


def _check_alpha(alpha, regime, shared_a, k):
    """Validate the lazy-scaling factor(s); returns (None or a list of k floats, the resolved shared_a)."""
    if alpha is None:
        return None, True if shared_a is None else bool(shared_a)
    if not type(regime).variant(lazy=True).lazy:
        raise ValueError(f"alpha (lazy scaling) applies to regime 'nn', got regime={regime.name!r} with "
                         f"alpha={alpha!r}; RF and NT are already linear in their parameters")
    if isinstance(alpha, (str, bytes)) or np.ndim(alpha) == 0:
        alphas = [check_positive_float("alpha", alpha)] * k
    else:
        alphas = [check_positive_float("alpha", x) for x in alpha]
        if len(alphas) != k:
            raise ValueError(f"alpha must be one number or one per width ({k}), got {len(alphas)} values")
    if shared_a:
        raise ValueError("alpha (lazy scaling) needs per-neuron second-layer weights a_i starting at "
                         "a0_i (shared_a=False or None): around a shared a = 0 the first layer "
                         "has no tangent direction")
    return alphas, False




@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the task, validated at construction (frozen).

    The fields are the keywords of :func:`lazytrain.train_sweep` (see :func:`lazytrain.train` for
    their meaning), plus ``d``, the task's input dimension (it sets default steps and step sizes).
    After construction every field holds its resolved value: ``regime`` the :class:`Regime`
    object of the variant trained (``NT(second_layer)``, ``NN(shared_a)``, ``LazyNN``),
    ``widths`` a tuple of ints, ``activation`` an :class:`Activation`, ``lr`` one float per width,
    ``alpha`` None or one float per width, ``steps``/``schedule``/``offset_mult``/``average``/
    ``precondition`` their defaults where None was given, ``device``/``dtype`` torch objects. The
    SGD-only fields are checked (and resolved) only for ``method='sgd'``.
    """

    regime: str | Regime
    widths: tuple
    d: int
    activation: str | Activation = "quadratic"
    steps: int | None = None
    batch_size: int = 100
    lr: float | tuple | None = None
    seed: int = 0
    device: str | torch.device = "cpu"
    dtype: str | torch.dtype = "float32"
    method: str = "sgd"
    schedule: str | tuple | None = None
    shared_a: bool | None = None
    second_layer: bool = False
    offset_mult: float | None = None
    alpha: float | tuple | None = None
    a0: str = "signs"
    average: float | None = None
    precondition: bool | None = None
    n_history: int = 60
    n_test: int = 200_000
    progress: bool = False
    #: the regime's name (a string, for messages, tables and the defaults above)
    name: str = field(init=False)

    def __post_init__(self):
        def put(key, value):
            object.__setattr__(self, key, value)

        name = check_regime(self.regime)
        put("name", name)
        method = check_choice("method", self.method, ("sgd", "flow"))
        put("method", method)
        widths = tuple(check_positive_int("n_neurons", n) for n in np.atleast_1d(self.widths).tolist())
        if not widths:
            raise ValueError("widths must hold at least one width")
        put("widths", widths)
        act = get_activation(self.activation)
        put("activation", act)
        d = check_positive_int("d", self.d)
        put("steps", default_steps(method) if self.steps is None
            else check_positive_int("steps", self.steps))
        put("lr", tuple(_check_lrs(self.lr, name, d, method, len(widths))))
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        put("seed", int(seed))
        put("n_history", check_positive_int("n_history", self.n_history))
        alphas, shared_a = _check_alpha(self.alpha, get_regime(name), self.shared_a, len(widths))
        put("alpha", None if alphas is None else tuple(alphas))
        put("shared_a", bool(shared_a))
        put("a0", check_choice("a0", self.a0, A0_LAWS))
        put("second_layer", bool(self.second_layer))
        regime = get_regime(name, second_layer=self.second_layer, shared_a=shared_a, lazy=alphas is not None)
        put("regime", regime)
        put("progress", bool(self.progress))
        if method == "flow":
            if self.average:
                raise ValueError(f"average={self.average!r} (tail averaging of SGD iterates) needs method='sgd'")
            if alphas is not None:
                raise ValueError(f"alpha={self.alpha!r} (lazy scaling) is trained by SGD only; use method='sgd'")
            flow = capabilities(None, act, regime).population_flow
            if not flow:
                raise ValueError(flow.reason)
            return
        put("batch_size", check_positive_int("batch_size", self.batch_size))
        put("n_test", check_positive_int("n_test", self.n_test))
        put("dtype", _DTYPES[check_choice("dtype", str(self.dtype).replace("torch.", ""), tuple(_DTYPES))])
        device = self.device
        put("device", torch.device(check_device(str(device) if isinstance(device, torch.device) else device)))
        if self.dtype == torch.bfloat16 and not bf16_available(self.device):
            warnings.warn(f"dtype='bfloat16' on {self.device}, which has no bf16 matrix units (CPU flags "
                          f"{' / '.join(BF16_CPU_FLAGS)}, or CUDA): torch emulates the products, correct but "
                          "slower than float32 (about 20x on an AVX2-only CPU, docs/performance.md); use "
                          "dtype='float32'", RuntimeWarning, stacklevel=4)
        put("schedule", _check_schedule(self.schedule, name))
        put("offset_mult", DEFAULT_OFFSET_MULT if self.offset_mult is None
            else check_positive_float("offset_mult", self.offset_mult))
        put("average", DEFAULT_AVERAGE[name] if self.average is None else _check_average(self.average))
        put("precondition", _check_precondition(self.precondition, regime, act))

    @property
    def param_dtype(self) -> torch.dtype:
        """The precision of the parameters and samples: float32 for the mixed 'bfloat16'."""
        return torch.float32 if self.dtype == torch.bfloat16 else self.dtype

    @property
    def matmul_dtype(self) -> torch.dtype | None:
        """The precision of the step's matrix products where it differs from ``param_dtype``."""
        return torch.bfloat16 if self.dtype == torch.bfloat16 else None

    @property
    def step_lrs(self) -> tuple:
        """The step size each network trains with: lr, or :func:`lazy_lr` with the lazy scaling."""
        if self.alpha is None:
            return self.lr
        return tuple(lazy_lr(lr, a) for lr, a in zip(self.lr, self.alpha))

    def settings(self, task) -> dict:
        """The settings recorded with every result (everything needed to rerun)."""
        out = dict(task=repr(task), regime=self.name, activation=self.activation.name, method=self.method,
                   steps=self.steps, seed=self.seed, shared_a=self.shared_a)
        if self.a0 != "signs":
            out["a0"] = self.a0
        out.update(self.regime.settings())
        if self.method == "sgd":
            out.update(batch_size=self.batch_size, schedule=self.schedule,
                       dtype=str(self.dtype).replace("torch.", ""), device=str(self.device),
                       offset_mult=self.offset_mult, average=self.average, precondition=self.precondition)
        return out


def lazy_lr(lr: float, alpha: float) -> float:
    """Step size of a lazily scaled network: lr·min(1, α).

    For α ≥ 1 the loss divided by α² already makes the training time the
    same for every α (docs/theory.md); below 1 the weights must grow for
    α(h - h0) to fit the target and the scaled loss stiffens, so the step
    shrinks with α (measured: at d = 30, N = 10 the step 0.01 diverges at
    α = 0.3 and 0.1, 0.01·α trains down to α = 0.1).
    """
    return lr * min(1.0, alpha)
