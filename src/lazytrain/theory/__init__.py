"""Asymptotic risk formulas (N, d → ∞, N/d → ρ), one module per task.

All risks are normalised by R0, the risk of the best constant predictor.
"""

from __future__ import annotations

from .._validation import check_options, check_positive_int
from ..regimes import capabilities, check_regime
from ..activations import get_activation
from ..tasks import GaussianMixture, HermiteTarget, QuadraticTarget, SpikedCovariates
from . import activation as _activation
from . import hermite, mixture, quadratic, spiked

#: Task class -> ``f(task, regime, n_neurons, activation, **options)``: the task's asymptotic formulas.
FORMULAS = {
    QuadraticTarget: quadratic.theory,
    GaussianMixture: mixture.theory,
    HermiteTarget: hermite.theory,
    SpikedCovariates: spiked.theory,
}


def theory_risk(task, regime, n_neurons, activation="quadratic", *, n_samples=None, ridge=None,
                **options) -> float:
    """Asymptotic theory for the normalised risk R/R0 of a regime.

    Parameters
    ----------
    task : QuadraticTarget or another lazytrain task
    regime : {'rf', 'nt', 'nn'}
    n_neurons : int
        N; the formulas use ρ = N/d.
    activation : str, Activation or callable, default 'quadratic'
        σ = u² (+ c0): the paper's formulas. Any other σ, for the quadratic
        target and the mixture: RF and NT from the Hermite coefficients of σ
        (docs/theory.md, "Theory for any activation"; measured within 0.01
        (RF) and 0.04 (NT) of exact risks at d = 450); no NN formula.
    n_samples : int, optional
        n: the risk of ridge RF fitted on n samples (Mei & Montanari,
        arXiv 1908.05355; :func:`lazytrain.theory.ridge.ridge_rf_theory`),
        regime 'rf' only, with ``ridge`` λ > 0 as in :func:`lazytrain.fit`.
        None (default): infinite data, the best predictor of the class.
    ridge : float, optional
        λ > 0, with ``n_samples`` (a tiny λ such as 1e-8 gives the
        ridgeless limit).
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
    if n_samples is not None or ridge is not None:
        from .ridge import ridge_rf_theory

        if regime != "rf" or n_samples is None or ridge is None:
            raise ValueError(
                f"n_samples and ridge: the finite-sample theory (Mei-Montanari) is for regime 'rf' "
                f"and needs both, got regime={regime!r}, n_samples={n_samples!r}, ridge={ridge!r}")
        samples = check_positive_int("n_samples", n_samples)
        try:
            lam = float(ridge)
        except (TypeError, ValueError):
            lam = float("nan")
        if not (lam > 0 and lam < float("inf")):
            raise ValueError(f"ridge must be a finite number > 0 for the finite-sample theory "
                             f"(1e-8 for the ridgeless limit), got {ridge!r}")
        return float(ridge_rf_theory(task, n, samples, lam, act))
    formulas = next((FORMULAS[cls] for cls in type(task).__mro__ if cls in FORMULAS), None)
    if (formulas is not None and not capabilities(task, act, regime).closed_form
            and task.kind in _activation.GENERAL_KINDS):
        return float(_activation.theory(task, regime, n, act, **options))
    if formulas is None:
        raise ValueError(f"task: theory_risk has formulas for {sorted(c.__name__ for c in FORMULAS)}, got "
                         f"{type(task).__name__}; exact_risk gives RF/NT risks for any task")
    check_options("theory_risk", formulas, options)
    return float(formulas(task, regime, n, act, **options))


def theory_unavailable(kind: str, regime: str, activation) -> str | None:
    """Why ``theory_risk`` has no formula for (task kind, regime, activation), or None (see :mod:`.activation`)."""
    return _activation.unavailable_reason(kind, check_regime(regime), get_activation(activation))


__all__ = ["FORMULAS", "theory_risk", "theory_unavailable"]
