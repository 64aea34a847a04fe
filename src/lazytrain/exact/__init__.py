"""Exact population risks for a given draw of the weights (no sampling).

All risks are normalised by R0, the risk of the best constant predictor.

How a task's formulas are found (docs/architecture.md):

* RF and NT, any activation: the one solver of :mod:`lazytrain.exact.general`,
  fed by the task's input law (``task.components``) and cross moments
  (``task.cross_moments(W, activation)``);
* RF and NT, quadratic activation σ(u) = a u² + c0: the closed form in
  :data:`CLOSED_FORMS` when the task has one (a fast path, tested equal to
  the general solver); ``closed_form=False`` skips it;
* NN (quadratic activation): ``task.nn_risk(N)``, the global optimum.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_memory, check_weights
from ..regimes import capabilities, check_regime
from ..activations import get_activation
from ..tasks import GaussianMixture, HermiteTarget, QuadraticTarget, SpikedCovariates, check_task
from . import general, hermite, mixture, quadratic, spiked

#: Task class -> closed-form RF/NT risk ``f(task, regime, W)`` for σ(u) = a u² + c0.
CLOSED_FORMS = {
    QuadraticTarget: quadratic.closed_form_risk,
    GaussianMixture: mixture.closed_form_risk,
    HermiteTarget: hermite.closed_form_risk,
    SpikedCovariates: spiked.closed_form_risk,
}

#: Task class -> best quadratic-activation predictor ``f(task, regime, W) -> (M, c)``.
BEST_QUADRATIC_FORMS = {
    GaussianMixture: mixture.best_predictor,
}


def lookup(table: dict, task):
    """The entry of ``table`` for the task's class or its nearest base class (None if none)."""
    for cls in type(task).__mro__:
        if cls in table:
            return table[cls]
    return None


def memory_estimate(task, regime: str, shape, activation, *, second_layer=False, closed_form=True,
                    method="auto") -> int:
    """Estimated peak memory (bytes) of :func:`exact_risk` for weights of ``shape`` (N, d): a
    generous upper bound of the arrays the solver holds at once (float64), checked before any.

    NN: the weights. The quadratic closed forms: a few N×N Grams and N×d products (the QR of W).
    The general solver, per Gaussian component of the input law: the N×N pair moments and their
    error estimates (up to 16, with the NT coefficients), the N×d pushed weights; CG's work
    vectors (12 N×d); the 2-D quadrature's chunk (:data:`lazytrain.activations._CHUNK_ELEMENTS`,
    8 arrays; 114 MiB measured for ReLU-like σ with every pair in the quadrature); and the dense NT Gram (3 P×P, P = N·d (+ N)) when the NT solve is dense.
    """
    from ..activations import _CHUNK_ELEMENTS
    from .general import DENSE_MAX

    N, d = (int(x) for x in shape)
    if regime == "nn":
        return 8 * N * d
    act = get_activation(activation)
    if closed_form and capabilities(task, act, regime).closed_form and lookup(CLOSED_FORMS, task) is not None:
        return 8 * (6 * N * N + 6 * N * d + 2 * d * min(N, d))
    comps = len(task.components)
    need = 8 * (comps * (16 * N * N + 2 * N * d) + 12 * N * d)
    if act.poly is None:
        need += 8 * 8 * min(_CHUNK_ELEMENTS, N * N * 20_000)
    P = N * d + (N if second_layer else 0)
    if regime == "nt" and (method == "dense" or (method == "auto" and P <= DENSE_MAX)):
        need += 8 * 3 * P * P
    return int(need)


def check_job_memory(task, regime, W, activation, max_memory, job: str, **options) -> None:
    """Refuse, before allocating, an exact RF/NT/NN job whose estimate exceeds ``max_memory``
    (bytes or '4GB'; None: $LAZYTRAIN_MAX_MEMORY or the memory available)."""
    shape = np.shape(W)
    if len(shape) != 2:
        return  # check_weights names the bad shape
    need = memory_estimate(task, regime, shape, activation, **options)
    check_memory(need, max_memory, f"{job}(regime={regime!r}, N={shape[0]}, d={shape[1]})",
                 "use fewer neurons N or a smaller d")


def exact_risk(task, regime, W, activation="quadratic", *, second_layer=False, closed_form=True,
               method="auto", tol=1e-10, maxiter=None, info=None, risk_tol=1e-6, on_miss="raise",
               max_memory=None) -> float:
    """Population risk R/R0 of the best predictor of a regime, for weights W.

    Parameters
    ----------
    task : lazytrain task
        QuadraticTarget, GaussianMixture, HermiteTarget or any subclass of
        :class:`lazytrain.tasks.Task`.
    regime : {'rf', 'nt', 'nn'}
        'rf': c + Σ a_i σ(⟨w_i,x⟩) with W fixed; 'nt': c + Σ ⟨b_i,x⟩σ'(⟨w_i,x⟩)
        with W fixed; 'nn': the global optimum over all networks with
        N = W.shape[0] neurons (only the shape of W is used).
    W : array of shape (N, d)
        First-layer weights, row i is w_i.
    activation : str, Activation or callable, default 'quadratic'
        'quadratic', 'relu', 'tanh', 'gelu' or a user function σ (see
        :func:`lazytrain.get_activation`). RF and NT: any activation, through
        the Gaussian-moment solver of :mod:`lazytrain.exact.general`, with
        closed forms for the quadratic activation where the task has them.
        NN needs the quadratic activation.
    second_layer : bool, default False
        Add Σ a_i σ(⟨w_i,x⟩) to the NT class.
    closed_form : bool, default True
        False forces the general solver for the quadratic activation too.
    method : {'auto', 'dense', 'cg'}
        NT solve of the general solver (see :func:`lazytrain.exact.general.nt_explained`).
    tol : float, default 1e-10
        CG relative residual.
    maxiter : int, optional
        CG iteration cap.
    info : dict, optional
        Receives the solve's method, CG iterations, residual, seconds and
        ``error_bound`` (the bound on |δR|/R0 from the moments' error estimates).
    risk_tol : float, default 1e-6
        Accuracy asked of R/R0: when the moments' error estimates, propagated
        through the solve, exceed it, :class:`~lazytrain.MomentAccuracyError`
        says which activation, weight norm and moment failed.
    on_miss : {'raise', 'warn'}, default 'raise'
        What a CG solve that misses ``tol`` (residual recomputed after CG)
        does: raise :class:`~lazytrain.SolverAccuracyError` or warn.
    max_memory : int or str, optional
        Bytes (or a size such as '4GB', as ``--max-memory`` takes) the job may
        use; default ``$LAZYTRAIN_MAX_MEMORY`` or the memory available now. A
        job whose estimate (:func:`memory_estimate`) exceeds it is refused
        with :class:`~lazytrain.MemoryLimitError` before anything is allocated.

    Returns
    -------
    float
        R/R0, with R0 the risk of the best constant predictor. Every class
        has a free output offset c.

    Examples
    --------
    >>> from lazytrain import QuadraticTarget, random_weights
    >>> task = QuadraticTarget.paper(d=40)
    >>> W = random_weights(40, 40, seed=0)
    >>> info = {}
    >>> r = exact_risk(task, "nt", W, activation="relu", info=info)
    >>> 0 < r < 1, info["method"]
    (True, 'cg')
    >>> exact_risk(task, "rf", W, activation="tanh")  # odd σ, even target
    1.0
    """
    regime = check_regime(regime)
    task = check_task(task)
    act = get_activation(activation)
    check_job_memory(task, regime, W, act, max_memory, "exact_risk", second_layer=second_layer,
                     closed_form=closed_form, method=method)
    W = check_weights(W, task.d)
    caps = capabilities(task, act, regime)
    if regime == "nn":
        if not caps.exact_nn:
            raise ValueError(f"activation: {caps.exact_nn.reason}")
        risk = task.nn_risk(W.shape[0])
        if risk is None:
            raise ValueError(f"regime 'nn': {type(task).__name__} has no exact NN optimum; "
                             "train(task, 'nn', N, ...) gives the SGD risk")
        return float(risk)
    fast = lookup(CLOSED_FORMS, task)
    if closed_form and fast is not None and caps.closed_form:
        return float(fast(task, regime, W))
    return float(general.lazy_risk(task, regime, W, act, second_layer=second_layer, method=method,
                                   tol=tol, maxiter=maxiter, info=info, risk_tol=risk_tol, on_miss=on_miss))


def best_quadratic_form(task, regime, W, activation="quadratic"):
    """The best predictor c + xᵀMx of a regime as (M, c), or None where no solver gives it.

    Available for the quadratic activation and the tasks in :data:`BEST_QUADRATIC_FORMS`.
    """
    regime = check_regime(regime)
    solver = lookup(BEST_QUADRATIC_FORMS, check_task(task))
    if solver is None or not capabilities(task, activation, regime).closed_form:
        return None
    return solver(task, regime, check_weights(W, task.d))


__all__ = ["BEST_QUADRATIC_FORMS", "CLOSED_FORMS", "best_quadratic_form", "exact_risk", "memory_estimate"]
