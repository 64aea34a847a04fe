"""lazytrain: how far lazy training (RF, NT) falls behind real training (NN).

Reproduces and extends Ghorbani, Mei, Misiakiewicz & Montanari,
"Limitations of Lazy Training of Two-layers Neural Networks" (NeurIPS 2019).
Every risk is normalised by R0, the risk of the best constant predictor.
"""

from .activations import Activation, get_activation
from .bayes import bayes_risk
from .exact import exact_risk
from .experiments import ExperimentSpec, ResultStore, load_spec, run_spec
from ._version import __version__
from .tasks import GaussianMixture, HermiteTarget, QuadraticTarget
from .theory import theory_risk
from .train import TrainResult, train, train_sweep
from .weights import random_weights

__all__ = [
    "Activation",
    "ExperimentSpec",
    "GaussianMixture",
    "HermiteTarget",
    "QuadraticTarget",
    "ResultStore",
    "bayes_risk",
    "exact_risk",
    "get_activation",
    "load_spec",
    "random_weights",
    "run_spec",
    "theory_risk",
    "train",
    "train_sweep",
    "TrainResult",
    "__version__",
]
