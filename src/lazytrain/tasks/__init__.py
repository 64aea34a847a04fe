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



def check_task(task, needs: tuple = ()) -> Task:
    """``task`` itself, or a ValueError naming what a task can be when it is not a lazytrain task
    (nor, when ``needs`` names attributes, an object that has them all: a duck-typed task)."""
    if not isinstance(task, Task) and not (needs and all(hasattr(task, a) for a in needs)):
        raise ValueError(
            f"task must be a lazytrain task: QuadraticTarget (e.g. QuadraticTarget.paper(d=30)), "
            f"GaussianMixture (e.g. GaussianMixture.paper(d=30)), HermiteTarget, or another subclass "
            f"of lazytrain.tasks.Task; got {type(task).__name__} {task!r:.60}")
    return task


__all__ = ["ArrayOps", "Component", "GaussianMixture", "HermiteTarget", "QuadraticTarget", "STANDARD", "SpikedCovariates",
           "Task", "check_task"]
