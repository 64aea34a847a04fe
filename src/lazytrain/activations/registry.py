"""The registry: the built-in activations by name, and names of one's own.

Built in: ``"quadratic"`` (σ = u²), ``"relu"``, ``"leaky_relu"`` (slope
0.01), ``"abs"``, ``"hard_tanh"``, ``"tanh"``, ``"gelu"`` (exact, σ = u·Φ(u)),
``"softplus"`` and ``"hermite23"`` (σ = h₂ + h₃, Figure 4).
:func:`register_activation` adds names; :func:`get_activation` resolves a
name, an :class:`~lazytrain.activations.base.Activation` or a function.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import special

from .base import Activation
from .closed_forms import _SQRT_2PI, _LinearReLU
from .torch_bridge import _is_torch


def _relu_fn(u):
    return u.clamp(min=0) if _is_torch(u) else np.maximum(u, 0.0)


def _relu_derivative(u):
    return (u > 0).to(u.dtype) if _is_torch(u) else (np.asarray(u) > 0).astype(np.float64)


def _linear_relu(a, c):
    def fn(u):
        return a * u + c * _relu_fn(u)

    def derivative(u):
        return a + c * _relu_derivative(u)

    return fn, derivative


def _tanh_fn(u):
    if _is_torch(u):
        return u.tanh()
    return np.tanh(u)


def _tanh_derivative(u):
    t = _tanh_fn(u)
    return 1 - t * t


def _normal_cdf(u):
    if _is_torch(u):
        import torch

        return torch.special.ndtr(u)
    return special.ndtr(u)


def _normal_pdf(u):
    if _is_torch(u):
        return (-0.5 * u * u).exp() / _SQRT_2PI
    return np.exp(-0.5 * np.square(u)) / _SQRT_2PI


def _gelu_fn(u):
    return u * _normal_cdf(u)


def _gelu_derivative(u):
    return _normal_cdf(u) + u * _normal_pdf(u)


def _softplus_fn(u):
    if _is_torch(u):
        import torch

        return torch.nn.functional.softplus(u)
    return np.logaddexp(0.0, u)


def _softplus_derivative(u):
    if _is_torch(u):
        return u.sigmoid()
    return special.expit(u)


def _hard_tanh_fn(u):
    return u.clamp(-1.0, 1.0) if _is_torch(u) else np.clip(u, -1.0, 1.0)


def _hard_tanh_derivative(u):
    if _is_torch(u):
        return ((u > -1) & (u < 1)).to(u.dtype)
    u = np.asarray(u)
    return ((u > -1) & (u < 1)).astype(np.float64)


LEAKY_SLOPE = 0.01

quadratic = Activation("quadratic", fn=lambda u: u * u, derivative=lambda u: 2 * u, poly=(0.0, 0.0, 1.0))
relu = _LinearReLU("relu", *_linear_relu(0.0, 1.0), kinks=(0.0,), a=0.0, c=1.0)
leaky_relu = _LinearReLU("leaky_relu", *_linear_relu(LEAKY_SLOPE, 1.0 - LEAKY_SLOPE), kinks=(0.0,),
                         a=LEAKY_SLOPE, c=1.0 - LEAKY_SLOPE)
absolute = _LinearReLU("abs", *_linear_relu(-1.0, 2.0), kinks=(0.0,), a=-1.0, c=2.0)
hard_tanh = Activation("hard_tanh", fn=_hard_tanh_fn, derivative=_hard_tanh_derivative, kinks=(-1.0, 1.0))
tanh = Activation("tanh", fn=_tanh_fn, derivative=_tanh_derivative)
gelu = Activation("gelu", fn=_gelu_fn, derivative=_gelu_derivative)
softplus = Activation("softplus", fn=_softplus_fn, derivative=_softplus_derivative)

#: σ = h₂ + h₃ = (u² − 1)/√2 + (u³ − 3u)/√6: unit Hermite coefficients in degrees 2 and 3 only
#: (b₂ = b₃ = 1 at unit variance), the activation of Figure 4. No degree-1 part, so a
#: network of it reaches degree-1 targets only through ‖w‖ ≠ 1; the staircase target of
#: Figure 4 is itself a network of k such neurons.
_H23 = (-1 / math.sqrt(2), -3 / math.sqrt(6), 1 / math.sqrt(2), 1 / math.sqrt(6))
hermite23 = Activation(
    "hermite23",
    fn=lambda u: _H23[0] + u * (_H23[1] + u * (_H23[2] + u * _H23[3])),
    derivative=lambda u: _H23[1] + u * (2 * _H23[2] + 3 * _H23[3] * u),
    poly=_H23,
)

BUILTIN = {a.name: a for a in (quadratic, relu, leaky_relu, absolute, hard_tanh, tanh, gelu, softplus,
                               hermite23)}
_REGISTRY: dict[str, Activation] = dict(BUILTIN)


def register_activation(name: str, activation, overwrite: bool = False) -> Activation:
    """Make an activation available by name (in ``get_activation``, ``exact_risk``, ``train``, specs).

    Parameters
    ----------
    name : str
        The name, case-insensitive: letters, digits, '_', '-' and '.'.
    activation : Activation or callable
        An Activation, or a function σ (wrapped with
        :meth:`Activation.from_function`; its kinks are then detected).
    overwrite : bool, default False
        Replace an activation registered earlier under the same name.
        Built-in names cannot be replaced.

    Notes
    -----
    The registry is per process; ``run_spec`` sends the driver's registered
    activations (cloudpickled) to its local worker processes and to the Dask
    workers connected when the run starts, so a spec may name them.

    Returns
    -------
    Activation
        The registered object, renamed to ``name`` if needed.

    Raises
    ------
    ValueError
        For a bad name, a built-in name, a name already taken (without
        ``overwrite``) or something that is not an activation.

    Examples
    --------
    >>> import numpy as np
    >>> act = register_activation("my-relu", lambda u: np.maximum(u, 0), overwrite=True)
    >>> get_activation("MY-RELU") is act
    True
    """
    if not isinstance(name, str) or not name or not all(ch.isalnum() or ch in "_-." for ch in name):
        raise ValueError(f"name must be a non-empty string of letters, digits, '_', '-', '.', got {name!r}")
    key = name.lower()
    if key in BUILTIN:
        raise ValueError(f"name {name!r} is a built-in activation; choose another name")
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"name {name!r} is already registered; pass overwrite=True to replace it")
    if isinstance(activation, Activation):
        act = activation if activation.name == key else dataclasses.replace(activation, name=key)
    elif callable(activation):
        act = Activation.from_function(activation, name=key)
    else:
        raise ValueError(f"activation must be an Activation or a callable, got {activation!r}")
    _REGISTRY[key] = act
    return act


def user_activations() -> dict:
    """The activations added by :func:`register_activation` in this process (name -> Activation)."""
    return {k: v for k, v in _REGISTRY.items() if k not in BUILTIN}


def registered_activations() -> list[str]:
    """Names accepted by :func:`get_activation` (built-in and registered)."""
    return sorted(_REGISTRY)


def get_activation(activation) -> Activation:
    """Return the :class:`Activation` for a name, an object or a user function.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name (``'quadratic'``, ``'relu'``, ``'leaky_relu'``,
        ``'abs'``, ``'hard_tanh'``, ``'tanh'``, ``'gelu'``, ``'softplus'``,
        ``'hermite23'`` = h₂ + h₃), a name given to :func:`register_activation`,
        an Activation (passed through) or a function σ (wrapped with
        :meth:`Activation.from_function`, derivative numerical, kinks detected).

    Raises
    ------
    ValueError
        For an unknown name (listing the known ones) or a function that
        cannot be evaluated.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        name = activation.strip().lower()  # the names rule: lazytrain._validation.normalise_name
        if name in _REGISTRY:
            return _REGISTRY[name]
        raise ValueError(
            f"activation must be one of {sorted(_REGISTRY)}, an Activation or a callable, got {activation!r}"
        )
    if callable(activation):
        return Activation.from_function(activation)
    raise ValueError(f"activation must be one of {sorted(_REGISTRY)}, an Activation or a callable, got {activation!r}")
