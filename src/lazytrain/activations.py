"""Activation functions as objects.

One object per activation gives everything a solver may ask for: σ, σ',
and (for polynomial activations) the coefficients that the closed-form
solvers use. Solvers ask the object; they never special-case names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Activation:
    """A scalar activation σ with its derivative.

    Parameters
    ----------
    name : str
        Short name used in tables and figures.
    fn, derivative : callable
        σ and σ', written with array operators so that they work on numpy
        arrays and torch tensors alike.
    poly : tuple of float or None
        Coefficients (p0, p1, p2, ...) when σ(u) = Σ p_k u^k is a polynomial,
        else None. Closed-form solvers use it.
    """

    name: str
    fn: Callable
    derivative: Callable
    poly: tuple | None = None

    def __call__(self, u):
        return self.fn(u)

    @property
    def is_even_quadratic(self) -> bool:
        """True when σ(u) = a u² + c0 with a ≠ 0: the paper's closed forms apply.

        The constant c0 is absorbed by every model's free offset.
        """
        p = self.poly
        return p is not None and len(p) == 3 and p[1] == 0 and p[2] != 0

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


quadratic = Activation("quadratic", fn=lambda u: u * u, derivative=lambda u: 2 * u, poly=(0.0, 0.0, 1.0))

_REGISTRY: dict[str, Activation] = {"quadratic": quadratic}


def get_activation(activation) -> Activation:
    """Return the :class:`Activation` for a name or pass an object through.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _REGISTRY:
        return _REGISTRY[activation.lower()]
    raise ValueError(f"activation must be one of {sorted(_REGISTRY)} or an Activation, got {activation!r}")
