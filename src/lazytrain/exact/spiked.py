"""Exact risks for spiked covariates: the quadratic-activation fast path.

RF and NT of ``SpikedCovariates`` at weights W are those of its isotropic
target (``task.isotropic``) at W̃ = WΣ^{1/2}, for every activation
(docs/theory.md, "Spiked covariates"); for σ(u) = a u² + c0 this is the
isotropic target's closed form. Other activations use the general solver
with the task's own input law and cross moments.
"""

from __future__ import annotations

import numpy as np

from ..tasks import QuadraticTarget, SpikedCovariates
from . import hermite, quadratic


def closed_form_risk(task: SpikedCovariates, regime: str, W: np.ndarray) -> float:
    """R/R0 of RF or NT for σ(u) = a u² + c0: the isotropic target's closed form at WΣ^{1/2}."""
    iso = task.isotropic
    fast = quadratic.closed_form_risk if isinstance(iso, QuadraticTarget) else hermite.closed_form_risk
    return fast(iso, regime, task.standardised_weights(W))
