"""Closed forms: activations whose Gaussian expectations are known exactly.

:class:`_LinearReLU`, σ(u) = a·u + c·max(u, 0) (ReLU, leaky ReLU, |u|), with
the arc-cosine formulas of Cho & Saul (2009) for every pair moment and the
Hermite coefficients of max(z, 0). Polynomial σ need no subclass: the generic
path of :class:`~lazytrain.activations.base.Activation` is exact for them
(Gauss-Hermite rules and a finite Hermite series).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .base import KERNEL_ORDERS, Activation, GaussianMoments, _kernel_arguments
from .quadrature import PAIR_ORDERS, _check_not_parallel, _pair_geometry

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _relu_hermite_unit(degree: int) -> np.ndarray:
    """b_k = E[max(z,0) h_k(z)]: 1/√(2π), 1/2, then for k = 2m ≥ 2
    (-1)^(m+1) (2m-3)!! / (√(2π) √((2m)!)), and 0 for odd k ≥ 3."""
    b = np.zeros(degree + 1)
    b[0] = 1.0 / _SQRT_2PI
    if degree >= 1:
        b[1] = 0.5
    for k in range(2, degree + 1, 2):
        m = k // 2
        log_dfact = special.gammaln(2 * m - 1) - (m - 1) * math.log(2) - special.gammaln(m)  # (2m-3)!!
        b[k] = (-1) ** (m + 1) * math.exp(log_dfact - 0.5 * special.gammaln(k + 1)) / _SQRT_2PI
    return b


def _rounding(value):
    """Error estimate of a closed-form value: a few ulps."""
    return 16 * np.finfo(np.float64).eps * np.abs(value)


@dataclass(frozen=True, eq=False)
class _LinearReLU(Activation):
    """σ(u) = a·u + c·max(u, 0), with the arc-cosine closed forms (Cho & Saul 2009).

    ReLU is (a, c) = (0, 1), leaky ReLU (α, 1 - α), |u| (-1, 2). For ReLU and
    (u_i, u_j) centred Gaussian with variances q_i, q_j, covariance C,
    r = √(q_i q_j), cos θ = C/r, s = sin θ:

    * E σσ = r (s + (π - θ) cos θ) / (2π)           (arc-cosine kernel, degree 1)
    * E σ'σ' = (π - θ) / (2π)                        (degree 0)
    * E σ''σ'' = E δ(u_i)δ(u_j) = 1 / (2π r s)
    * E σ'''_i σ'_j = -cos θ / (2π q_i s)
    * E σ''_i σ_j = r s / (2π q_i)

    The linear part adds E[u_i σ_ReLU(u_j)] = C/2, E[u_i u_j] = C to the first
    and a² + ac to the second; σ'' = c·δ, so the others scale by c² (E[δ(u_i) u_j] = 0,
    E δ'(u) = 0). Every value is exact up to rounding: positive homogeneity
    scales the weight norm out, so these hold at every ‖w‖.
    """

    a: float = 0.0
    c: float = 1.0

    def hermite_coefficients(self, degree, variance=1.0, return_error=False):
        q = np.asarray(variance, dtype=np.float64)
        unit = self.c * _relu_hermite_unit(degree)
        if degree >= 1:
            unit[1] += self.a
        b = np.sqrt(q)[..., None] * unit
        return (b, _rounding(b)) if return_error else b

    def moments(self, variance, return_error=False):
        q = np.asarray(variance, dtype=np.float64)
        a, c = self.a, self.c
        slope2 = np.full(q.shape, a * a + a * c + c * c / 2)
        mom = GaussianMoments(
            mean=c * np.sqrt(q) / _SQRT_2PI,
            second=(a * a + a * c + c * c / 2) * q,
            d_second=slope2,
            d_second_curv=np.zeros(q.shape),
            cross_grad=slope2.copy(),
            d2_mean=c / np.sqrt(q * 2 * np.pi),
        )
        return (mom, GaussianMoments(*(_rounding(v) for v in mom))) if return_error else mom

    def pair_moments(self, cov, orders=PAIR_ORDERS, return_error=False):
        cov, q, rho = _pair_geometry(cov)
        orders = [tuple(o) for o in orders]
        n = q.shape[0]
        off = ~np.eye(n, dtype=bool)
        if any(max(o) >= 2 for o in orders):
            _check_not_parallel(rho, off, self.name)
        r = np.sqrt(np.outer(q, q))
        theta = np.arccos(rho)
        s = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
        qi, qj = q[:, None], q[None, :]
        a, c = self.a, self.c
        with np.errstate(divide="ignore", invalid="ignore"):
            forms = {
                (0, 0): lambda: c * c * r * (s + (np.pi - theta) * rho) / (2 * np.pi) + (a * a + a * c) * cov,
                (1, 1): lambda: c * c * (np.pi - theta) / (2 * np.pi) + a * a + a * c,
                (2, 2): lambda: c * c / (2 * np.pi * r * s),
                (3, 1): lambda: -c * c * rho / (2 * np.pi * qi * s),
                (1, 3): lambda: -c * c * rho / (2 * np.pi * qj * s),
                (2, 0): lambda: c * c * r * s / (2 * np.pi * qi),
                (0, 2): lambda: c * c * r * s / (2 * np.pi * qj),
            }
            out = {}
            for o in orders:
                m = forms[o]()
                m[~off] = np.nan
                out[o] = m
        if return_error:
            # arccos near ρ = ±1 loses digits: add eps/s for θ
            err = {o: _rounding(v) + (16 * np.finfo(float).eps / np.maximum(s, 1e-300)) * np.abs(v) for o, v in out.items()}
            return out, err
        return out

    def pair_expectations(self, q1, q2, rho, sin=None, orders=KERNEL_ORDERS, tol=1e-12, return_error=False):
        """The arc-cosine closed forms of :meth:`pair_moments` between two sets, every pair (the
        diagonal and parallel pairs included: θ = 0 or π). θ = atan2(sin, ρ), accurate near ρ = ±1
        when ``sin`` comes from the vectors; ``tol`` is not needed (exact up to rounding)."""
        q1, q2, rho, sin, orders = _kernel_arguments(self.name, q1, q2, rho, sin, orders)
        r = np.sqrt(np.outer(q1, q2))
        theta = np.arctan2(sin, rho)
        a, c = self.a, self.c
        forms = {
            (0, 0): lambda: c * c * r * (sin + (np.pi - theta) * rho) / (2 * np.pi) + (a * a + a * c) * rho * r,
            (1, 1): lambda: c * c * (np.pi - theta) / (2 * np.pi) + a * a + a * c,
        }
        out = {o: forms[o]() for o in orders}
        if return_error:
            # θ from atan2 is accurate to a few ulps: 16 ulp of the value plus 16 ulp of θ's share
            err = {o: _rounding(v) + 16 * np.finfo(float).eps * c * c * (1 + r) for o, v in out.items()}
            return out, err
        return out
