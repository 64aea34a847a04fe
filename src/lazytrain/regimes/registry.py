"""The one registry of regimes: a new regime is a file in this package and one line below."""

from __future__ import annotations

from .._validation import _show, normalise_name
from .base import Regime
from .nn import NN
from .nt import NT
from .one_step import OneStep
from .rf import RF

#: name -> the regime's class (its default variant is ``cls()``).
REGISTRY = {
    "rf": RF,
    "nt": NT,
    "nn": NN,
    "one-step": OneStep,
}

#: Every regime name, in the order figures and tables list them (what a spec's ``regimes`` takes).
ALL_REGIMES = tuple(REGISTRY)
#: The regimes evaluated at the W they are given: what ``exact_risk``, ``fit``, ``train`` and
#: ``theory_risk`` take (a regime that first moves W, such as 'one-step', is for specs and its own API).
REGIMES = tuple(name for name, cls in REGISTRY.items() if cls.at_given_w)


def check_regime(regime, any_regime: bool = False) -> str:
    """The normalised name of a regime, or a ValueError naming it.

    A :class:`Regime` object is accepted in its default variant only: a name is what the public
    functions validate, and they take the variant as keywords (``second_layer=True``), so an
    object such as ``NT(second_layer=True)`` is refused here rather than silently read as 'nt'.
    A regime that first moves W (``at_given_w`` False) is refused with what to call instead,
    unless ``any_regime`` (the experiments layer, which calls its ``prepare``).
    """
    if isinstance(regime, Regime):
        if regime != REGISTRY[regime.name]():
            raise ValueError(f"regime must be a name, one of {list(REGIMES)}, with the variant as keywords "
                             f"(e.g. second_layer=True); got the object {regime!r}")
        name = regime.name
    else:
        name = normalise_name(regime)
        if not isinstance(regime, str) or name not in REGISTRY:
            allowed = ALL_REGIMES if any_regime else REGIMES
            raise ValueError(f"regime must be one of {list(allowed)}, got {_show(regime)}")
    if not (any_regime or REGISTRY[name].at_given_w):
        raise ValueError(f"regime must be one of {list(REGIMES)} here, got {name!r}: "
                         f"{REGISTRY[name].use_instead}")
    return name


def get_regime(regime, any_regime: bool = False, **variant) -> Regime:
    """The :class:`Regime` object of a name (or the object itself, returned as it is).

    ``variant``: the keywords of the regime's variants (:meth:`Regime.variant`): ``second_layer``
    (NT with the σ(⟨w_i, x⟩) block), ``shared_a`` (NN with one second-layer scalar, the default,
    or per-neuron a_i), ``lazy`` (the lazily scaled NN). A regime ignores the keywords of others.
    ``any_regime``: accept a regime that first moves W (see :func:`check_regime`).
    """
    if isinstance(regime, Regime):
        return regime
    return REGISTRY[check_regime(regime, any_regime)].variant(**variant)
