"""lazytrain: how far lazy training (RF, NT) falls behind real training (NN).

Reproduces and extends Ghorbani, Mei, Misiakiewicz & Montanari,
"Limitations of Lazy Training of Two-layers Neural Networks" (NeurIPS 2019,
arXiv:1906.08899). Every risk is normalised by R0, the risk of the best
constant predictor.

The public names are imported when first used (PEP 562), so that
``import lazytrain`` and the command line start quickly: torch is loaded
only by what trains, Dask only by what runs on Dask.
"""

import sys as _sys
import types as _types
from importlib import import_module as _import_module

from ._version import __version__

#: public name -> the submodule defining it
_EXPORTS = {
    "Activation": "activations",
    "MomentAccuracyError": "activations",
    "MemoryLimitError": "_validation",
    "get_activation": "activations",
    "register_activation": "activations",
    "bayes_risk": "bayes",
    "exact_risk": "exact",
    "SolverAccuracyError": "exact.general",
    "degree_risks": "exact.degrees",
    "fit": "fitting",
    "FitResult": "fitting",
    "ExperimentSpec": "experiments",
    "ResultStore": "experiments",
    "load_spec": "experiments",
    "run_spec": "experiments",
    "GaussianMixture": "tasks",
    "HermiteTarget": "tasks",
    "QuadraticTarget": "tasks",
    "SpikedCovariates": "tasks",
    "theory_risk": "theory",
    "TrainResult": "train",
    "train": "train",
    "train_sweep": "train",
    "one_step": "regimes.one_step",
    "OneStepError": "regimes.one_step",
    "random_weights": "weights",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lazytrain' has no attribute {name!r}")
    value = getattr(_import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    """The public names and the module's dunders (not its private helpers)."""
    return sorted(set(_EXPORTS) | {"__version__"} | {n for n in globals() if n.startswith("__")})


class _Package(_types.ModuleType):
    """``lazytrain.train`` is the function, as with an eager ``from .train import train``, even
    after the subpackage of the same name was imported (which binds the name to the module)."""

    def __getattribute__(self, name):
        if name == "train":
            return _import_module(".train", __name__).train
        return super().__getattribute__(name)


_sys.modules[__name__].__class__ = _Package
