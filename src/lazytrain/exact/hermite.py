"""Exact risks for Hermite ridge targets: the quadratic-activation fast path.

With σ(u) = a u² + c0 the RF features σ(⟨w_i, x⟩) and the NT features
x σ'(⟨w_i, x⟩) = 2a x⟨w_i, x⟩ are quadratic polynomials, so they see only the
degree-2 part of f*, xᵀB₂x − Tr B₂ (B₂ = Σ_j c_j2 u_j u_jᵀ), which is
orthogonal to every other degree. Hence

    R/R0 = 1 − (Var₂ / R0) · (1 − R_quad/R0_quad),

with Var₂ = 2‖B₂‖²_F and R_quad/R0_quad the closed-form risk of the
quadratic target xᵀB₂x (:mod:`lazytrain.exact.quadratic`). Any other
activation uses the general solver with ``HermiteTarget.cross_moments``.
"""

from __future__ import annotations

import numpy as np

from ..tasks import HermiteTarget, QuadraticTarget
from . import quadratic


def closed_form_risk(task: HermiteTarget, regime: str, W: np.ndarray) -> float:
    """R/R0 of RF or NT for σ(u) = a u² + c0 (see the module docstring)."""
    B2 = task.quadratic_part
    var2 = 2.0 * float(np.sum(B2 * B2))
    if var2 <= 1e-300:
        return 1.0
    part = quadratic.closed_form_risk(QuadraticTarget(B2), regime, W)
    return float(np.clip(1.0 - var2 / task.r0 * (1.0 - part), 0.0, 1.0))
