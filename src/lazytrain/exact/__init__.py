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

from .._validation import check_regime, check_weights
from ..activations import get_activation
from ..tasks import GaussianMixture, HermiteTarget, QuadraticTarget, SpikedCovariates, Task
from . import general, hermite, mixture, quadratic, spiked
from .quadratic import require_quadratic_activation

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


def check_task(task) -> Task:
    """``task`` itself, or a ValueError when it is not a lazytrain task."""
    if not isinstance(task, Task):
        raise ValueError(
            f"task must be a lazytrain task (a subclass of lazytrain.tasks.Task, e.g. QuadraticTarget, "
            f"GaussianMixture, HermiteTarget), got {type(task).__name__}"
        )
    return task


def exact_risk(task, regime, W, activation="quadratic", *, second_layer=False, closed_form=True,
               method="auto", tol=1e-10, maxiter=None, info=None, risk_tol=1e-6, on_miss="raise") -> float:
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
    W = check_weights(W, task.d)
    act = get_activation(activation)
    if regime == "nn":
        require_quadratic_activation(act)
        risk = task.nn_risk(W.shape[0])
        if risk is None:
            raise ValueError(f"regime 'nn': {type(task).__name__} has no exact NN optimum; "
                             "train(task, 'nn', N, ...) gives the SGD risk")
        return float(risk)
    fast = lookup(CLOSED_FORMS, task)
    if closed_form and fast is not None and act.is_even_quadratic:
        return float(fast(task, regime, W))
    return float(general.lazy_risk(task, regime, W, act, second_layer=second_layer, method=method,
                                   tol=tol, maxiter=maxiter, info=info, risk_tol=risk_tol, on_miss=on_miss))


def best_quadratic_form(task, regime, W, activation="quadratic"):
    """The best predictor c + xᵀMx of a regime as (M, c), or None where no solver gives it.

    Available for the quadratic activation and the tasks in :data:`BEST_QUADRATIC_FORMS`.
    """
    regime = check_regime(regime)
    solver = lookup(BEST_QUADRATIC_FORMS, check_task(task))
    if solver is None or not get_activation(activation).is_even_quadratic:
        return None
    return solver(task, regime, check_weights(W, task.d))


__all__ = ["BEST_QUADRATIC_FORMS", "CLOSED_FORMS", "best_quadratic_form", "exact_risk"]
