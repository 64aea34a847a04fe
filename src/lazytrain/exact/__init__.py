"""Exact population risks for a given draw of the weights (no sampling).

All risks are normalised by R0, the risk of the best constant predictor.
"""

from __future__ import annotations

from functools import singledispatch

from .._validation import check_options, check_regime, check_weights
from ..activations import get_activation


@singledispatch
def _exact(task, regime, W, activation, **options):
    raise ValueError(f"task must be a lazytrain task (e.g. QuadraticTarget), got {type(task).__name__}")


def exact_risk(task, regime, W, activation="quadratic", **options) -> float:
    """Population risk R/R0 of the best predictor of a regime, for weights W.

    Parameters
    ----------
    task : QuadraticTarget or another lazytrain task
    regime : {'rf', 'nt', 'nn'}
        'rf': c + Σ a_i σ(⟨w_i,x⟩) with W fixed; 'nt': c + Σ ⟨b_i,x⟩σ'(⟨w_i,x⟩)
        with W fixed; 'nn': the global optimum over all networks with
        N = W.shape[0] neurons (only the shape of W is used).
    W : array of shape (N, d)
        First-layer weights, row i is w_i.
    activation : str, Activation or callable, default 'quadratic'
        'quadratic', 'relu', 'tanh', 'gelu' or a user function σ (see
        :func:`lazytrain.get_activation`). The quadratic activation uses
        closed forms; any other uses the Gaussian-moment solvers of
        :mod:`lazytrain.exact.general` (NN needs the quadratic activation).
    **options
        ``second_layer=True`` adds Σ a_i σ(⟨w_i,x⟩) to the NT class.
        General solvers only: ``closed_form=False`` forces them for the
        quadratic activation too; ``method`` ('auto', 'dense', 'cg'),
        ``tol`` (CG relative residual, default 1e-10), ``maxiter``; pass a
        dict as ``info`` to receive the NT solve's method, CG iterations,
        residual and seconds.

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
    W = check_weights(W, task.d) if hasattr(task, "d") else W
    act = get_activation(activation)
    check_options("exact_risk", _exact.dispatch(type(task)), options)
    return float(_exact(task, regime, W, act, **options))


from . import mixture as _mixture  # noqa: E402,F401  (registers the task)
from . import quadratic as _quadratic  # noqa: E402,F401  (registers the task)

__all__ = ["exact_risk"]
