"""Asymptotic risk formulas (N, d → ∞, N/d → ρ), one module per task.

All risks are normalised by R0, the risk of the best constant predictor.
"""

from __future__ import annotations

from functools import singledispatch

from .._validation import check_options, check_positive_int, check_regime
from ..activations import get_activation


@singledispatch
def _theory(task, regime, n_neurons, activation, **options):
    raise ValueError(f"task must be a lazytrain task (e.g. QuadraticTarget), got {type(task).__name__}")


def theory_risk(task, regime, n_neurons, activation="quadratic", **options) -> float:
    """Asymptotic theory for the normalised risk R/R0 of a regime.

    Parameters
    ----------
    task : QuadraticTarget or another lazytrain task
    regime : {'rf', 'nt', 'nn'}
    n_neurons : int
        N; the formulas use ρ = N/d.
    activation : str or Activation, default 'quadratic'
    **options
        Task-specific options, e.g. ``cov`` (RF weight covariance Γ) and
        ``finite_d`` (NT exact finite-d expectation) for the quadratic target.

    Returns
    -------
    float
        R/R0, with R0 the risk of the best constant predictor (Var f*).

    Examples
    --------
    >>> from lazytrain import QuadraticTarget
    >>> task = QuadraticTarget.paper()
    >>> round(theory_risk(task, "nt", 225), 4)
    0.3722
    """
    regime = check_regime(regime)
    n = check_positive_int("n_neurons", n_neurons)
    act = get_activation(activation)
    check_options("theory_risk", _theory.dispatch(type(task)), options)
    return float(_theory(task, regime, n, act, **options))


from . import mixture as _mixture  # noqa: E402,F401  (registers the task)
from . import quadratic as _quadratic  # noqa: E402,F401  (registers the task)

__all__ = ["theory_risk"]
