"""Regimes: one file per class of predictors (RF, NT, NN, one giant step), the seam between regimes and solvers.

See :mod:`lazytrain.regimes.base` for the contract and :mod:`.capabilities` for what is available
where. :data:`REGISTRY` is the one list of regimes; a new regime is a new file and one line in :data:`REGISTRY` (``registry.py``;
docs/architecture.md, "How to add a regime").
"""

from __future__ import annotations

from .base import Coef, CoefLayout, Regime, namespace
from .capabilities import NEEDS_QUADRATIC, Answer, Capabilities, capabilities
from .nn import NN, LazyNN
from .nt import NT
from .one_step import OneStep, OneStepSettings
from .registry import ALL_REGIMES, REGIMES, REGISTRY, check_regime, get_regime
from .rf import RF

__all__ = ["ALL_REGIMES", "NEEDS_QUADRATIC", "NN", "NT", "OneStep", "OneStepSettings", "REGIMES", "REGISTRY", "RF", "Answer", "Capabilities", "Coef",
           "CoefLayout", "LazyNN", "Regime", "capabilities", "check_regime", "get_regime", "namespace"]
