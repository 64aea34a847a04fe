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

from .._validation import _show, check_memory, sgd_memory
from ..tasks import check_task
from .config import (A0_LAWS, DEFAULT_AVERAGE, DEFAULT_OFFSET_MULT, DEFAULT_PRECONDITION,
                     DEFAULT_SCHEDULE, SCHEDULES, TrainConfig, bf16_available, default_lr, default_steps,
                     lazy_lr)
from .flow import run_flow
from .result import History, TrainResult
from .sgd import run_sgd


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
    cfg = TrainConfig(regime, widths, task.d, activation, steps, batch_size, lr, seed, device, dtype,
                      method, schedule=schedule, shared_a=shared_a, second_layer=second_layer,
                      offset_mult=offset_mult, alpha=alpha, a0=a0, average=average,
                      precondition=precondition, n_history=n_history, n_test=n_test, progress=progress)
    if cfg.method == "sgd":
        d, widths = task.d, list(cfg.widths)
        check_memory(sum(sgd_memory(d, widths, cfg.batch_size, cfg.steps, cfg.dtype.itemsize, cfg.name).values()),
                     max_memory, f"SGD on widths {_show(widths)} together (total N = {sum(widths)}, d = {d}, "
                     f"batch_size = {cfg.batch_size})",
                     "use smaller or fewer widths (train them in separate runs) or batch_size")
    return run(task, cfg)


def run(task, cfg: TrainConfig) -> list:
    """Train as ``cfg`` says (a :class:`TrainConfig`); one TrainResult per width."""
    if cfg.method == "flow":
        if not callable(getattr(task, "predictor_risk_grad", None)):
            raise ValueError(
                f"method='flow' needs task.predictor_risk_grad(M, c) (the gradient of the closed-form "
                f"risk of c + xᵀMx); {type(task).__name__} does not provide it"
            )
        settings = cfg.settings(task)
        return [run_flow(task, cfg.activation, n, steps=cfg.steps, lr=lr_k, seed=cfg.seed,
                         shared_a=cfg.shared_a, a0=cfg.a0, n_history=cfg.n_history, settings=dict(settings))
                for n, lr_k in zip(cfg.widths, cfg.lr)]
    return run_sgd(task, cfg)


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
    dtype : {'float32', 'float64', 'bfloat16'}, default 'float32'
        'bfloat16': mixed precision. The step's matrix products (the forward
        x·W and the weight update) run in bfloat16 on the bf16 matrix units
        (CPU flags avx512_bf16 / amx_bf16, or CUDA; :func:`bf16_available`);
        the master weights, the elementwise work, the averaging state and
        every recorded risk stay float32/float64, the samples are the
        float32 ones. Accuracy against float32: docs/reproduction.md.
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


__all__ = ["A0_LAWS", "DEFAULT_AVERAGE", "DEFAULT_OFFSET_MULT", "DEFAULT_PRECONDITION", "DEFAULT_SCHEDULE",
           "History", "SCHEDULES", "TrainConfig", "TrainResult", "bf16_available", "default_lr", "default_steps", "lazy_lr",
           "run", "train", "train_sweep"]
