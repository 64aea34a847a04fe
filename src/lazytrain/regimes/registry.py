"""The one registry of regimes: a new regime is a file in this package and one line below."""

from __future__ import annotations

from .._validation import _show, normalise_name
from .base import Regime
from .nn import NN
from .nt import NT
from .rf import RF

#: name -> the regime's class (its default variant is ``cls()``).
REGISTRY = {
    "rf": RF,
    "nt": NT,
    "nn": NN,
}

#: The regime names, in the order figures and tables list them.
REGIMES = tuple(REGISTRY)


def check_regime(regime) -> str:
    """The normalised name of a regime, or a ValueError naming it.

    A :class:`Regime` object is accepted in its default variant only: a name is what the public
    functions validate, and they take the variant as keywords (``second_layer=True``), so an
    object such as ``NT(second_layer=True)`` is refused here rather than silently read as 'nt'.
    """
    if isinstance(regime, Regime):
        if regime != REGISTRY[regime.name]():
            raise ValueError(f"regime must be a name, one of {list(REGIMES)}, with the variant as keywords "
                             f"(e.g. second_layer=True); got the object {regime!r}")
        return regime.name
    name = normalise_name(regime)
    if not isinstance(regime, str) or name not in REGISTRY:
        raise ValueError(f"regime must be one of {list(REGIMES)}, got {_show(regime)}")
    return name


def get_regime(regime, **variant) -> Regime:
    """The :class:`Regime` object of a name (or the object itself, returned as it is).

    ``variant``: the keywords of the regime's variants (:meth:`Regime.variant`): ``second_layer``
    (NT with the σ(⟨w_i, x⟩) block), ``shared_a`` (NN with one second-layer scalar, the default,
    or per-neuron a_i), ``lazy`` (the lazily scaled NN). A regime ignores the keywords of others.
    """
    if isinstance(regime, Regime):
        return regime
    return REGISTRY[check_regime(regime)].variant(**variant)
