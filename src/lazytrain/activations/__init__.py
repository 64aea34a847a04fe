"""Activation functions as objects (a package: one module per concern, every name re-exported here).

One object per activation gives everything a solver may ask for (in the
spirit of neural-tangents' ``stax``: one definition gives the network and
its kernel):

* σ and σ' (:attr:`Activation.fn`, :attr:`Activation.derivative`), written so
  that they work on numpy arrays and on torch tensors alike (SGD calls them on
  tensors; torch is never imported by the theory and exact layers);
* the normalised Hermite coefficients of u ↦ σ(√q·u) (:meth:`hermite_coefficients`);
* the one- and two-dimensional Gaussian expectations the exact solvers need
  (:meth:`moments`, :meth:`pair_moments`), each with an error estimate
  (``return_error=True``): closed forms where one exists (polynomials; the
  arc-cosine formulas for a·u + c·ReLU), otherwise composite Gauss-Legendre
  rules split at the kinks of σ (declared, or found by :func:`detect_kinks`)
  and graded around them (:mod:`lazytrain._quadrature`), and the Hermite
  (Mehler) series for weakly correlated pairs.

Solvers ask the object; they never special-case names. Built in, by name:
``"quadratic"`` (σ = u²), ``"relu"``, ``"leaky_relu"`` (slope 0.01),
``"abs"``, ``"hard_tanh"``, ``"tanh"``, ``"gelu"`` (exact, σ = u·Φ(u)),
``"softplus"`` and ``"hermite23"`` (σ = h₂ + h₃, Figure 4); any other function
through :meth:`Activation.from_function`, and names of one's own through
:func:`register_activation`. A moment that misses its accuracy surfaces as
:class:`MomentAccuracyError`.

Conventions: z ~ N(0, 1); h_k = He_k/√(k!) are the orthonormal (probabilists')
Hermite polynomials; for u ~ N(0, q), σ(u) = σ(√q z) = Σ_k b_k(q) h_k(z).

Modules: :mod:`.base` (the :class:`Activation` class, :class:`GaussianMoments`,
:class:`MomentAccuracyError`), :mod:`.closed_forms` (a·u + c·ReLU with the
arc-cosine formulas), :mod:`.registry` (the built-ins by name,
:func:`register_activation`, :func:`get_activation`), :mod:`.quadrature`
(Hermite tables, kink detection, the 1-D and 2-D rules split at kinks, the
Mehler series) and :mod:`.torch_bridge` (σ and σ' on numpy arrays and torch
tensors alike). Import from here: ``from lazytrain.activations import X``.
"""

from .base import KERNEL_ORDERS, Activation, GaussianMoments, MomentAccuracyError
from .closed_forms import _SQRT_2PI as _SQRT_2PI
from .closed_forms import _LinearReLU as _LinearReLU
from .closed_forms import _relu_hermite_unit as _relu_hermite_unit
from .closed_forms import _rounding as _rounding
from .quadrature import (
    BASE_2D, L_1D, L_2D, MAX_SERIES_DEGREE, P_1D, P_2D, PAIR_ORDERS, PARALLEL_TOL, RHO_SERIES,
    derivative_coefficients, detect_kinks, gauss_hermite, hermite_table,
)
from .quadrature import _CHUNK_ELEMENTS as _CHUNK_ELEMENTS
from .quadrature import _check_not_parallel as _check_not_parallel
from .quadrature import _merge_close as _merge_close
from .quadrature import _pair_geometry as _pair_geometry
from .quadrature import _pair_integrand as _pair_integrand
from .quadrature import _shift_factors as _shift_factors
from .registry import (
    BUILTIN, LEAKY_SLOPE, absolute, gelu, get_activation, hard_tanh, hermite23, leaky_relu, quadratic,
    register_activation, registered_activations, relu, softplus, tanh, user_activations,
)
from .registry import _H23 as _H23
from .registry import _REGISTRY as _REGISTRY
from .registry import _gelu_derivative as _gelu_derivative
from .registry import _gelu_fn as _gelu_fn
from .registry import _hard_tanh_derivative as _hard_tanh_derivative
from .registry import _hard_tanh_fn as _hard_tanh_fn
from .registry import _linear_relu as _linear_relu
from .registry import _normal_cdf as _normal_cdf
from .registry import _normal_pdf as _normal_pdf
from .registry import _relu_derivative as _relu_derivative
from .registry import _relu_fn as _relu_fn
from .registry import _softplus_derivative as _softplus_derivative
from .registry import _softplus_fn as _softplus_fn
from .registry import _tanh_derivative as _tanh_derivative
from .registry import _tanh_fn as _tanh_fn
from .torch_bridge import _is_torch as _is_torch
from .torch_bridge import _numeric_derivative as _numeric_derivative
from .torch_bridge import _stencil_derivative as _stencil_derivative
from .torch_bridge import _TorchBridge as _TorchBridge

__all__ = [
    "Activation", "GaussianMoments", "MomentAccuracyError", "KERNEL_ORDERS",
    "BASE_2D", "L_1D", "L_2D", "MAX_SERIES_DEGREE", "P_1D", "P_2D", "PAIR_ORDERS", "PARALLEL_TOL", "RHO_SERIES",
    "derivative_coefficients", "detect_kinks", "gauss_hermite", "hermite_table",
    "BUILTIN", "LEAKY_SLOPE", "absolute", "gelu", "get_activation", "hard_tanh", "hermite23", "leaky_relu",
    "quadratic", "register_activation", "registered_activations", "relu", "softplus", "tanh", "user_activations",
]
