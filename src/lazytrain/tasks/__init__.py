"""Learning tasks: the law of (x, y) and the Gaussian moments the solvers need.

One file per task, each a subclass of :class:`~lazytrain.tasks.base.Task`
(the documented contract). Every task reports risks normalised by ``r0``,
the risk of the best constant predictor (Var y).
"""

from .base import STANDARD, ArrayOps, Component, Task
from .hermite import HermiteTarget
from .mixture import GaussianMixture
from .quadratic import QuadraticTarget
from .spiked import SpikedCovariates

__all__ = ["ArrayOps", "Component", "GaussianMixture", "HermiteTarget", "QuadraticTarget", "STANDARD", "SpikedCovariates",
           "Task"]
