"""Training: one-pass SGD (torch) for RF / NT / NN and the population gradient flow.

All risks are normalised by R0, the risk of the best constant predictor.
The loop is task-generic: it calls only ``task.d``, ``task.r0``,
``task.sample_torch(n, generator, device, dtype)`` and, for an even quadratic
activation (model = c + xᵀMx) when the task has it, ``task.predictor_risk(M, c)``
(the exact risk; otherwise the risk is measured by Monte Carlo on a fixed test
sample, with its standard error); the population flow calls
``task.predictor_risk_grad(M, c)``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .._validation import (_show, check_choice, check_device, check_memory, check_positive_float,
                           check_positive_int, check_regime, sgd_memory)
from ..activations import get_activation
from ..tasks import check_task
from .flow import run_flow
from .result import History, TrainResult
from .sgd import lazy_lr, run_sgd

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

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def default_steps(regime: str, d: int, method: str = "sgd") -> int:
    """Default number of SGD steps (or flow steps); chosen by measurement, docs/reproduction.md."""
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


def train_sweep(task, regime, widths, activation="quadratic", steps=None, batch_size=100, lr=None,
                seed=0, device="cpu", dtype="float32", method="sgd", *, schedule=None,
                shared_a=None, second_layer=False, offset_mult=None, alpha=None, a0="signs",
                average=None, precondition=None, n_history=60, n_test=200_000,
                progress=False, max_memory=None) -> list:
    """Train one network per width, all on one stream of samples; see :func:`train`.

    The widths share every batch, so one matrix product serves them all
    (much faster than separate runs; docs/performance.md). Network k is the
    network ``train(task, regime, widths[k], ..., seed=seed)`` would give:
    same initial weights, same samples, same steps (equal up to float
    rounding). ``lr`` and ``alpha`` may be one value or one per width (the
    same width repeated with several α trains a laziness sweep in one run).

    Returns
    -------
    list of TrainResult, one per width, in the order given.
    """
    task = check_task(task, needs=("d", "r0"))  # train documents duck-typed tasks too
    regime = check_regime(regime)
    method = check_choice("method", method, ("sgd", "flow"))
    widths = [check_positive_int("n_neurons", n) for n in np.atleast_1d(widths).tolist()]
    if not widths:
        raise ValueError("widths must hold at least one width")
    act = get_activation(activation)
    d = task.d
    steps = default_steps(regime, d, method) if steps is None else check_positive_int("steps", steps)
    lrs = _check_lrs(lr, regime, d, method, len(widths))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    n_history = check_positive_int("n_history", n_history)
    alphas, shared_a = _check_alpha(alpha, regime, shared_a, len(widths))
    a0 = check_choice("a0", a0, A0_LAWS)
    settings = dict(task=repr(task), regime=regime, activation=act.name, method=method, steps=steps,
                    seed=seed, shared_a=bool(shared_a))
    if a0 != "signs":
        settings["a0"] = a0
    if regime == "nt":
        settings["second_layer"] = bool(second_layer)
    if method == "flow":
        if average:
            raise ValueError(f"average={average!r} (tail averaging of SGD iterates) needs method='sgd'")
        if alphas is not None:
            raise ValueError(f"alpha={alpha!r} (lazy scaling) is trained by SGD only; use method='sgd'")
        if regime != "nn" or not act.is_even_quadratic:
            raise ValueError(
                f"method='flow' (population gradient flow) needs regime='nn' and an even quadratic "
                f"activation (closed-form risk), got regime={regime!r}, activation={act.name!r}"
            )
        if not callable(getattr(task, "predictor_risk_grad", None)):
            raise ValueError(
                f"method='flow' needs task.predictor_risk_grad(M, c) (the gradient of the closed-form "
                f"risk of c + xᵀMx); {type(task).__name__} does not provide it"
            )
        return [run_flow(task, act, n, steps=steps, lr=lr_k, seed=seed, shared_a=shared_a, a0=a0,
                         n_history=n_history, settings=dict(settings))
                for n, lr_k in zip(widths, lrs)]
    batch_size = check_positive_int("batch_size", batch_size)
    n_test = check_positive_int("n_test", n_test)
    dtype_t = _DTYPES[check_choice("dtype", str(dtype).replace("torch.", ""), tuple(_DTYPES))]
    check_memory(sum(sgd_memory(d, widths, batch_size, steps, dtype_t.itemsize, regime).values()), max_memory,
                 f"SGD on widths {_show(widths)} together (total N = {sum(widths)}, d = {d}, batch_size = "
                 f"{batch_size})", "use smaller or fewer widths (train them in separate runs) or batch_size")
    device = torch.device(check_device(str(device) if isinstance(device, torch.device) else device))
    sched = _check_schedule(schedule, regime)
    offset_mult = (DEFAULT_OFFSET_MULT if offset_mult is None
                   else check_positive_float("offset_mult", offset_mult))
    average = DEFAULT_AVERAGE[regime] if average is None else _check_average(average)
    precondition = _check_precondition(precondition, regime, act)
    settings.update(batch_size=batch_size, schedule=sched, dtype=str(dtype_t).replace("torch.", ""),
                    device=str(device), offset_mult=offset_mult, average=average,
                    precondition=precondition)
    return run_sgd(task, regime, widths, act, steps=steps, batch_size=batch_size, lrs=lrs, seed=seed,
                   device=device, dtype=dtype_t, schedule=sched, shared_a=shared_a,
                   second_layer=second_layer, offset_mult=offset_mult, n_history=n_history,
                   n_test=n_test, progress=progress, settings=settings, alphas=alphas, a0=a0,
                   average=average, precondition=precondition)


def _check_average(average) -> float:
    if (isinstance(average, (bool, str, bytes)) or not isinstance(average, numbers.Real)
            or not 0.0 <= float(average) < 1.0):
        raise ValueError(f"average must be a fraction of the steps in [0, 1) (0: no averaging), "
                         f"got {average!r}")
    return float(average)


def _check_precondition(precondition, regime, act) -> bool:
    if precondition is None:  # derived and measured for σ = u² (the Gram of the tangent features)
        return regime in DEFAULT_PRECONDITION and act.is_even_quadratic
    if not isinstance(precondition, (bool, np.bool_)):
        raise ValueError(f"precondition must be True or False, got {precondition!r}")
    if precondition and regime != "nt":
        raise ValueError(f"precondition=True (the Gram preconditioner of the tangent weights) "
                         f"applies to regime 'nt', got regime={regime!r}")
    return bool(precondition)


def _check_alpha(alpha, regime, shared_a, k):
    """Validate the lazy-scaling factor(s); returns (None or a list of k floats, the resolved shared_a)."""
    if alpha is None:
        return None, True if shared_a is None else bool(shared_a)
    if regime != "nn":
        raise ValueError(f"alpha (lazy scaling) applies to regime 'nn', got regime={regime!r} with "
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


def train(task, regime, n_neurons, activation="quadratic", steps=None, batch_size=100, lr=None,
          seed=0, device="cpu", dtype="float32", method="sgd", *, schedule=None, shared_a=None,
          second_layer=False, offset_mult=None, alpha=None, a0="signs", average=None,
          precondition=None, n_history=60, n_test=200_000, progress=False, max_memory=None) -> TrainResult:
    """Train a two-layer network as the paper does and report its population risk.

    Parameters
    ----------
    task : QuadraticTarget, GaussianMixture, HermiteTarget or another lazytrain task
        Must provide ``d``, ``r0`` and ``sample_torch``; with ``predictor_risk``
        the risk of quadratic-activation models is exact, otherwise Monte Carlo
        on ``n_test`` samples (``risk_se`` its standard error); the flow needs
        ``predictor_risk_grad``.
    regime : {'rf', 'nt', 'nn'}
        'rf': c + (1/N)Σ a_i σ(⟨w_i,x⟩), W fixed. 'nt': the tangent class
        c + (1/N)Σ a0_i σ'(⟨w_i,x⟩)⟨g_i,x⟩ (+ the second-layer term with
        ``second_layer=True``), W fixed. 'nn': everything trained.
    n_neurons : int
        Width N.
    activation : str or Activation, default 'quadratic'
    steps : int, optional
        SGD steps (each on a fresh batch) or flow steps. Default:
        :func:`default_steps`.
    batch_size : int, default 100
    lr : float, optional
        Base step size ε. In the mean-field parametrisation rows of W (and G)
        and per-neuron a_i move with ε·N, a shared a and c with ε. Default:
        :func:`default_lr`. For the flow, the time step.
    seed : int, default 0
        Initial W is exactly ``random_weights(d, n_neurons, seed=seed)``; the
        data, a0 and test streams are seeded from it too.
    device : str, default 'cpu'
        torch device ('cuda' works where available).
    dtype : {'float32', 'float64'}, default 'float32'
    method : {'sgd', 'flow'}, default 'sgd'
        'flow': gradient descent on the closed-form population risk (no
        sampling; ``regime='nn'``, even quadratic activation).
    schedule : str or sequence of (fraction, factor), optional
        Step-down schedule, a key of ``SCHEDULES`` or pairs; default
        ``DEFAULT_SCHEDULE[regime]``: for nn 'anneal' (50 % at ε, 15 % at
        ε/5, 15 % at ε/10, 20 % at ε/20; the authors' 70/15/15 % at ε, ε/10,
        ε/15 is 'nn'), for rf the authors' (80/10/10 % at ε, ε/10, ε/15),
        constant for nt (with the tail average). 'constant' disables it.
    shared_a : bool, optional
        NN: True (the default without ``alpha``), one shared second-layer
        scalar starting at 0 (the authors' default); False (the default and
        the only choice with ``alpha``): per-neuron a_i starting at random
        signs a0_i = ±1, trained.
    second_layer : bool, default False
        NT: add the trained term (1/N)Σ a_i σ(⟨w_i,x⟩).
    offset_mult : float, optional
        η_c: the offset c moves with step lr·η_c (default
        ``DEFAULT_OFFSET_MULT``). The authors' script has the knob with
        default 1; with 1 the NN dynamics crawl along a valley where c and
        Tr M trade off (docs/reproduction.md), so the default is larger.
        The flow always keeps c at its optimum (η_c → ∞).
    n_history : int, default 60
        About 2·n_history records (geometric and linear in the step).
    n_test : int, default 200000
        Fresh samples for the Monte-Carlo risk (non-quadratic activations).
    alpha : float, optional
        The laziness dial (``regime='nn'``). None: the mean-field network
        above. α > 0: the lazy scaling of Chizat, Oyallon & Bach (arXiv
        1812.07956), f(x) = c + α·(h(x; θ) - h(x; θ0)) with
        h = (1/N) Σ a_i σ(⟨w_i, x⟩), a_i from a0_i = ±1 (random signs, the
        same draw as NT's tangent coefficients) and W from
        ``random_weights(d, N, seed)``; W and a are trained on the batch loss
        divided by α², with the same mean-field multipliers, and c on the
        plain loss, so the linearised dynamics, and so the training time,
        do not depend on α (docs/theory.md, "The laziness dial"). As α → ∞
        the network becomes its linearisation at θ0, the NT + second-layer
        class (``exact_risk(task, 'nt', W, second_layer=True)``), and
        ``weight_change`` falls like 1/α; α of order 1 learns features.
        Below α = 1 the step is lr·α (:func:`lazy_lr`).
    a0 : {'signs', 'ones'}, default 'signs'
        The per-neuron second-layer start a0_i (lazy NN, per-neuron NN, RF,
        and NT's tangent coefficients): independent fair signs ±1, or all
        +1. With σ = u² and a positive semi-definite target, neurons that
        start with a0_i = -1 die in the feature-learning (small α) regime
        (w_i shrinks to 0 and stays there), so only the positive ones count;
        'ones' keeps all N (Figure 5 uses it). The lazy limit is the same
        for both (the class depends on a0 only through a0_i ≠ 0).
    precondition : bool, optional
        NT only (default True for 'nt' with an even quadratic activation,
        False otherwise): each step of the tangent weights G
        of a network is multiplied by P = (S/m + 10⁻³ I)⁻¹, S = A W Wᵀ A the
        neurons' Gram (A = diag(a0)), m its mean eigenvalue: plain SGD on the
        same tangent class in a whitened parametrisation, so that the slow
        directions of the ill-conditioned tangent features (N near d) learn
        as fast as the others (:func:`lazytrain.train.sgd.gram_preconditioners`).
        Costs 2·B·N² flops per step and network (applied inside the step).
    average : float, optional
        Polyak–Ruppert tail averaging: the returned network is the mean of
        the iterates of the last ``average`` fraction of the steps (0: the
        last iterate). Default ``DEFAULT_AVERAGE[regime]``. The history
        shows the iterates; its last record (with an exact risk) is the
        returned, averaged network.
    progress : bool, default False
        Show a tqdm progress bar.
    max_memory : int or str, optional
        Bytes (or a size such as '4GB') the run may use; default
        ``$LAZYTRAIN_MAX_MEMORY`` or the memory available. A run whose estimate
        (:func:`lazytrain._validation.sgd_memory`) is larger is refused with
        :class:`~lazytrain.MemoryLimitError` before anything is allocated.

    Returns
    -------
    TrainResult
        ``.risk`` (R/R0 at the end), ``.risk_method``, ``.risk_se``,
        ``.history``, ``.params``, ``.settings``, ``.wall_time``,
        ``.weight_change`` (‖W - W0‖_F/‖W0‖_F), ``.alpha``.

    Raises
    ------
    ValueError
        Bad input, or divergence (NaN, inf, risk above 100·R0): the message
        names the step size and suggests a smaller one.

    Examples
    --------
    >>> from lazytrain import QuadraticTarget, train
    >>> task = QuadraticTarget.paper(d=20)
    >>> res = train(task, "rf", 10, steps=2000, lr=0.01)
    >>> res.risk_method
    'exact'
    """
    (result,) = train_sweep(task, regime, [n_neurons], activation, steps, batch_size, lr, seed, device,
                            dtype, method, schedule=schedule, shared_a=shared_a,
                            second_layer=second_layer, offset_mult=offset_mult, alpha=alpha, a0=a0,
                            average=average, precondition=precondition, n_history=n_history, n_test=n_test,
                            progress=progress, max_memory=max_memory)
    return result


__all__ = ["A0_LAWS", "DEFAULT_AVERAGE", "DEFAULT_PRECONDITION", "DEFAULT_SCHEDULE", "History", "SCHEDULES", "lazy_lr", "TrainResult", "default_lr", "default_steps", "train", "train_sweep"]
