"""What is available for a (task, activation, regime), each answer with one reason: the one place
that decides the quadratic special case.

σ(u) = p2 u² + p0 (an *even quadratic* activation) makes every network a quadratic form
c + xᵀMx. That is what the closed forms, the exact NN optimum (the rank-N optimum, Eckart–Young,
Theorem 3 of arXiv 1906.08899), the population gradient flow and the exact risk of a trained or
fitted predictor rest on. :func:`capabilities` reads the activation's ``is_even_quadratic`` once
and says, for each, whether it is available and why (not); every solver, the spec checks, the
skip messages and the "points not computed" report show these reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..activations import get_activation
from .registry import get_regime

#: The one reason behind every "σ must be quadratic" refusal.
NEEDS_QUADRATIC = "needs σ(u) = u² + c0 (the quadratic activation)"


@dataclass(frozen=True)
class Answer:
    """Whether something is available, and why (not): one reason string, shown as it is."""

    available: bool
    reason: str

    def __bool__(self) -> bool:
        return self.available


@dataclass(frozen=True)
class Capabilities:
    """What (task, activation, regime) allows; each field an :class:`Answer`.

    closed_form
        A closed-form exact risk (and the best quadratic form) of the RF/NT class: σ quadratic
        (the task must also have closed forms registered, ``exact.CLOSED_FORMS``).
    exact_nn
        The exact NN optimum (``exact_risk(task, 'nn', ...)``): regime 'nn' and σ quadratic
        (``task.nn_risk`` may still return None: the task has none).
    population_flow
        ``train(..., method='flow')``: regime 'nn', σ quadratic, a task with ``predictor_risk_grad``.
    exact_predictor_risk
        The exact risk of a trained (SGD) or kernel-fitted predictor, c + xᵀMx: σ quadratic and a
        task with ``predictor_risk``; otherwise the risk is measured by Monte Carlo.
    theory
        Asymptotic theory as far as the activation is concerned: RF and NT for any σ, NN only for σ
        quadratic (which task kinds have formulas is the theory's own table).
    """

    closed_form: Answer
    exact_nn: Answer
    population_flow: Answer
    exact_predictor_risk: Answer
    theory: Answer


def capabilities(task, activation, regime) -> Capabilities:
    """What is available for this task, activation and regime (see :class:`Capabilities`).

    ``task`` may be None (a spec's task family before it is built): the answers then depend on the
    activation and the regime only. ``regime`` is a name or a :class:`~lazytrain.regimes.Regime`.
    """
    act = get_activation(activation)
    regime = get_regime(regime, any_regime=True)   # a name (its default variant) or a Regime object
    name = regime.name
    quadratic = act.is_even_quadratic          # the one read of the predicate
    needs = NEEDS_QUADRATIC

    def has(method):
        return task is None or callable(getattr(task, method, None))

    task_name = type(task).__name__
    closed = Answer(quadratic, "closed forms for σ(u) = u² + c0" if quadratic else
                    f"no closed form for activation {act.name!r}: a closed form {needs}; the general "
                    "Gaussian-moment solver gives RF and NT for any activation")
    nn_reason = (f"no NN optimum for activation {act.name!r}: the rank-N optimum (Eckart-Young, "
                 f"Theorem 3) {needs}; train it instead (train(task, 'nn', N, activation=...), "
                 "kind 'sgd' in a spec)")
    if not regime.flow:
        exact_nn = Answer(False, f"regime {name!r} is a class at fixed W: exact_risk solves it for any "
                                 "activation; the NN optimum is regime 'nn'")
    elif not quadratic:
        exact_nn = Answer(False, nn_reason)
    else:  # whether the task has one (task.nn_risk is not None) is the task's to say
        exact_nn = Answer(True, "the rank-N optimum of c + xᵀMx (Eckart-Young)")
    if not (regime.flow and quadratic):
        flow = Answer(False, f"method='flow' (the population gradient flow on the closed-form risk of "
                             f"c + xᵀMx) needs regime 'nn' and σ(u) = u² + c0, got regime {name!r} and "
                             f"activation {act.name!r}; use method 'sgd'")
    elif not has("predictor_risk_grad"):
        flow = Answer(False, f"method='flow' needs task.predictor_risk_grad(M, c) (the gradient of the "
                             f"closed-form risk of c + xᵀMx); {task_name} does not provide it")
    else:
        flow = Answer(True, "gradient descent on the closed-form population risk")
    if not quadratic:
        exact_pred = Answer(False, f"Monte Carlo risk for activation {act.name!r}: an exact risk of the "
                                   f"predictor {needs}")
    elif not has("predictor_risk"):
        exact_pred = Answer(False, f"Monte Carlo risk: {task_name} has no predictor_risk(M, c)")
    else:
        exact_pred = Answer(True, "the predictor is c + xᵀMx and the task gives its exact risk")
    theory = (Answer(False, nn_reason) if regime.flow and not quadratic
              else Answer(True, "RF and NT for any σ, NN for σ(u) = u² + c0"))
    return Capabilities(closed_form=closed, exact_nn=exact_nn, population_flow=flow,
                        exact_predictor_risk=exact_pred, theory=theory)


__all__ = ["Answer", "Capabilities", "NEEDS_QUADRATIC", "capabilities"]
