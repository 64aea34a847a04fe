"""Activation functions as objects.

One object per activation gives everything a solver may ask for (in the
spirit of neural-tangents' ``stax``: one definition gives the network and
its kernel):

* σ and σ' (:attr:`Activation.fn`, :attr:`Activation.derivative`), written so
  that they work on numpy arrays and on torch tensors alike (SGD calls them on
  tensors; torch is never imported by the theory and exact layers);
* the normalised Hermite coefficients of u ↦ σ(√q·u) (:meth:`hermite_coefficients`);
* the one- and two-dimensional Gaussian expectations the exact solvers need
  (:meth:`moments`, :meth:`pair_moments`), in closed form where one exists
  (polynomials; the arc-cosine formulas for ReLU) and by Gauss-Hermite
  quadrature or the Hermite (Mehler) series otherwise.

Solvers ask the object; they never special-case names. Built in, by name:
``"quadratic"`` (σ = u²), ``"relu"``, ``"tanh"``, ``"gelu"`` (exact,
σ = u·Φ(u)) and ``"hermite23"`` (σ = h₂ + h₃, Figure 4); any other function through :meth:`Activation.from_function`.

Conventions: z ~ N(0, 1); h_k = He_k/√(k!) are the orthonormal (probabilists')
Hermite polynomials; for u ~ N(0, q), σ(u) = σ(√q z) = Σ_k b_k(q) h_k(z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np
from scipy import special

from ._validation import check_neuron_variances

#: Quadrature sizes: 1-D expectations and Hermite coefficients, and the 2-D
#: fallback for strongly correlated pairs (per dimension).
N_NODES_1D = 160
N_NODES_2D = 96
#: Pairs with |correlation| up to this value use the Hermite (Mehler) series.
RHO_SERIES = 0.5
#: Largest Hermite degree used by the series.
MAX_SERIES_DEGREE = 80
#: Pairs this close to parallel have singular second-derivative moments.
PARALLEL_TOL = 1e-10

#: Two-dimensional moments the solvers may ask for: (m, n) means
#: E[σ^(m)(u_i) σ^(n)(u_j)]. The transposes (1, 3), (0, 2) follow by symmetry.
PAIR_ORDERS = ((0, 0), (1, 1), (2, 2), (3, 1), (2, 0))


def _is_torch(u) -> bool:
    return type(u).__module__.split(".")[0] == "torch"


@lru_cache(maxsize=None)
def gauss_hermite(n: int):
    """Nodes z and weights ω with Σ ω f(z) ≈ E f(z), z ~ N(0, 1) (exact up to degree 2n-1)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2.0 * math.pi)


def hermite_table(z, degree: int) -> np.ndarray:
    """Orthonormal Hermite polynomials h_k(z) = He_k(z)/√(k!), k = 0..degree.

    Returns an array of shape ``z.shape + (degree + 1,)``, by the stable
    recurrence h_{k+1} = (z h_k - √k h_{k-1}) / √(k+1).
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.empty(z.shape + (degree + 1,))
    out[..., 0] = 1.0
    if degree >= 1:
        out[..., 1] = z
    for k in range(1, degree):
        out[..., k + 1] = (z * out[..., k] - math.sqrt(k) * out[..., k - 1]) / math.sqrt(k + 1)
    return out


def _shift_factors(degree: int, m: int) -> np.ndarray:
    """√((k+m)!/k!) for k = 0..degree: the m-th derivative shifts h_{k+m} to h_k."""
    k = np.arange(degree + 1, dtype=np.float64)
    return np.exp(0.5 * (special.gammaln(k + m + 1) - special.gammaln(k + 1)))


def derivative_coefficients(b: np.ndarray, q, m: int, degree: int) -> np.ndarray:
    """Hermite coefficients of σ^(m)(√q z) from those of σ(√q z).

    Since h_k' = √k h_{k-1} and d/dz σ(√q z) = √q σ'(√q z),
    σ^(m)(√q z) = q^(-m/2) Σ_k √((k+m)!/k!) b_{k+m} h_k(z).
    ``b`` has shape (..., ≥ degree + m + 1); returns shape (..., degree + 1).
    """
    q = np.asarray(q, dtype=np.float64)[..., None]
    return b[..., m: m + degree + 1] * _shift_factors(degree, m) / q ** (m / 2)


class GaussianMoments(NamedTuple):
    """One-dimensional Gaussian expectations at u ~ N(0, q) (arrays over q).

    Attributes
    ----------
    mean : E σ(u)
    second : E σ(u)²
    d_second : E σ'(u)²
    d_second_curv : E[(σ'²)''(u)] = E[σ'(u)² (u² - q)] / q²  (Stein)
    cross_grad : E[(σσ')'(u)] = E[σ(u) σ'(u) u] / q
    d2_mean : E σ''(u) = E[σ'(u) u] / q
    """

    mean: np.ndarray
    second: np.ndarray
    d_second: np.ndarray
    d_second_curv: np.ndarray
    cross_grad: np.ndarray
    d2_mean: np.ndarray


def _numeric_derivative(f, u):
    """σ'(u) of a user function: autograd on torch tensors, 5-point differences on arrays.

    The finite-difference step h = 1e-3·max(1, |u|) gives an error of about
    h⁴ |σ⁽⁵⁾|/30 + 1e-16 |σ|/h ≈ 1e-12 for smooth σ in float64.
    """
    if _is_torch(u):
        import torch

        with torch.enable_grad():
            x = u if u.requires_grad else u.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=u.requires_grad)
        return g
    u = np.asarray(u, dtype=np.float64)
    h = 1e-3 * np.maximum(1.0, np.abs(u))
    return (-f(u + 2 * h) + 8 * f(u + h) - 8 * f(u - h) + f(u - 2 * h)) / (12 * h)


@dataclass(frozen=True, eq=False)
class Activation:
    """A scalar activation σ with its derivative and its Gaussian expectations.

    Parameters
    ----------
    name : str
        Short name used in tables and figures.
    fn, derivative : callable
        σ and σ', acting elementwise on numpy arrays and torch tensors alike.
    poly : tuple of float or None
        Coefficients (p0, p1, p2, ...) when σ(u) = Σ p_k u^k is a polynomial,
        else None. Then every Gaussian expectation below is exact (quadrature
        and Hermite series are exact for polynomials).

    Notes
    -----
    The generic methods use Gauss-Hermite quadrature (exact for polynomials,
    geometric convergence for analytic σ such as tanh and GELU, slow
    algebraic convergence for σ with kinks) and the Mehler series
    E[f(u_i) g(u_j)] = Σ_k f_k g_k ρ^k for pairs with |ρ| ≤ 0.5. Subclasses
    override them with closed forms (see the ReLU activation).
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

    # ------------------------------------------------------------ construction
    @classmethod
    def from_function(cls, fn, name=None, derivative=None) -> "Activation":
        """An activation from a user function σ (and optionally σ').

        Parameters
        ----------
        fn : callable
            σ, acting elementwise: it must return an array of its input's shape.
            Write it with numpy (for the exact solvers) and, to train with it,
            with operators that also work on torch tensors.
        name : str, optional
            Defaults to ``fn.__name__``.
        derivative : callable, optional
            σ'. When omitted: torch autograd on tensors, 5-point central
            differences (error ≈ 1e-12 for smooth σ) on numpy arrays.

        Raises
        ------
        ValueError
            If ``fn`` (or ``derivative``) is not callable, does not return an
            array of the input's shape, or returns NaN/inf on a probe grid.

        Examples
        --------
        >>> softplus = Activation.from_function(lambda u: np.logaddexp(0, u), name="softplus")
        >>> round(float(softplus.derivative(np.array(0.0))), 6)
        0.5
        """
        if not callable(fn):
            raise ValueError(f"activation must be a name, an Activation or a callable, got {fn!r}")
        if derivative is not None and not callable(derivative):
            raise ValueError(f"derivative must be callable or None, got {derivative!r}")
        if name is None:
            name = getattr(fn, "__name__", "custom")
        if derivative is None:
            def derivative(u, _f=fn):
                return _numeric_derivative(_f, u)
        act = cls(str(name), fn, derivative)
        probe = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
        act._eval(probe)
        act._eval(probe, order=1)
        return act

    def _eval(self, u: np.ndarray, order: int = 0) -> np.ndarray:
        """σ (order 0) or σ' (order 1) on a float64 array, checked for shape and finiteness."""
        f = self.fn if order == 0 else self.derivative
        what = "σ" if order == 0 else "σ' (derivative)"
        try:
            out = np.asarray(f(u), dtype=np.float64)
        except Exception as exc:  # the user's function failed on a plain array
            raise ValueError(
                f"activation {self.name!r}: {what} failed on a float64 array of shape {u.shape}: {exc}"
            ) from exc
        if out.shape != u.shape:
            raise ValueError(
                f"activation {self.name!r}: {what} must act elementwise and return the input's "
                f"shape {u.shape}, got shape {out.shape}"
            )
        bad = ~np.isfinite(out)
        if bad.any():
            where = float(u[bad].flat[0])
            raise ValueError(
                f"activation {self.name!r}: {what} returned {out[bad].flat[0]} at u = {where:.6g} "
                f"({int(bad.sum())} of {out.size} values not finite); Gaussian expectations need "
                "finite values on the whole real line"
            )
        return out

    # ------------------------------------------------------------ Gaussian expectations
    def hermite_coefficients(self, degree: int, variance=1.0) -> np.ndarray:
        """Normalised Hermite coefficients b_k(q) = E[σ(√q z) h_k(z)], k = 0..degree.

        Parameters
        ----------
        degree : int
            Highest k.
        variance : float or array
            q, the variance of the pre-activation u = ⟨w, x⟩ (‖w‖² for x ~ N(0, I)).

        Returns
        -------
        ndarray of shape ``np.shape(variance) + (degree + 1,)``
            σ(√q z) = Σ_k b_k h_k(z) with h_k = He_k/√(k!). Computed by
            Gauss-Hermite quadrature with max(160, degree + 40) nodes.
        """
        q = np.asarray(variance, dtype=np.float64)
        z, w = gauss_hermite(max(N_NODES_1D, degree + 40))
        vals = self._eval(np.sqrt(q)[..., None] * z)
        return (vals * w) @ hermite_table(z, degree)

    def moments(self, variance) -> GaussianMoments:
        """One-dimensional expectations at u ~ N(0, q), q = ``variance`` (see :class:`GaussianMoments`)."""
        q = np.asarray(variance, dtype=np.float64)
        z, w = gauss_hermite(N_NODES_1D)
        u = np.sqrt(q)[..., None] * z
        s, ds = self._eval(u), self._eval(u, order=1)

        def E(f):
            return f @ w

        return GaussianMoments(
            mean=E(s),
            second=E(s * s),
            d_second=E(ds * ds),
            d_second_curv=E(ds * ds * (u * u - q[..., None])) / q**2,
            cross_grad=E(s * ds * u) / q,
            d2_mean=E(ds * u) / q,
        )

    def pair_moments(self, cov, orders=PAIR_ORDERS) -> dict:
        """Two-dimensional expectations E[σ^(m)(u_i) σ^(n)(u_j)] for all pairs i ≠ j.

        Parameters
        ----------
        cov : array of shape (N, N)
            Covariance of the pre-activations u = W x (W Wᵀ for x ~ N(0, I)).
        orders : iterable of (m, n)
            Derivative orders, from :data:`PAIR_ORDERS`.

        Returns
        -------
        dict mapping (m, n) to an (N, N) array
            Off-diagonal entries hold the expectation; the diagonal is NaN
            (i = j is a one-dimensional moment, see :meth:`moments`).
            Derivatives of order ≥ 2 are meant in the weak (Gaussian
            integration by parts) sense, so they exist for σ with kinks.

        Notes
        -----
        With ρ = cov_ij/√(q_i q_j): pairs with |ρ| ≤ 0.5 (all pairs, for a
        polynomial σ) use the Mehler series Σ_k B^(m)_k(q_i) B^(n)_k(q_j) ρ^k
        with B^(m) from :func:`derivative_coefficients` (truncation error
        below 1e-17 relative); the others use 96×96-node Gauss-Hermite
        quadrature with Stein's identity E[∂_i^a ∂_j^b F(u)] = E[F(u) H_ab(u)]
        (H_ab the bivariate Hermite polynomials of the covariance), so only σ
        and σ' are evaluated.
        """
        cov, q, rho = _pair_geometry(cov)
        orders = [tuple(o) for o in orders]
        n = q.shape[0]
        out = {o: np.full((n, n), np.nan) for o in orders}
        off = ~np.eye(n, dtype=bool)
        series = off & ((np.abs(rho) <= RHO_SERIES) | (self.poly is not None))
        if series.any():
            self._series_pairs(q, rho, series, orders, out)
        rest = off & ~series
        if rest.any():
            if any(max(o) >= 2 for o in orders):
                _check_not_parallel(rho, rest, self.name)
            self._quadrature_pairs(q, rho, rest, orders, out)
        return out

    def _series_pairs(self, q, rho, mask, orders, out):
        if self.poly is not None:
            degree = len(self.poly) - 1
        else:
            r = float(np.max(np.abs(rho[mask])))
            degree = MAX_SERIES_DEGREE if r > 0 else 0
            if 0 < r < 1:
                degree = min(MAX_SERIES_DEGREE, int(math.ceil(-40.0 / math.log(r))) + 8)
        top = max(m for o in orders for m in o)
        b = self.hermite_coefficients(degree + top, q)
        coeff = {m: derivative_coefficients(b, q, m, degree) for m in {m for o in orders for m in o}}
        rho_m = np.where(mask, rho, 0.0)
        for (m, k) in orders:
            acc = np.zeros_like(rho_m)
            power = np.ones_like(rho_m)
            for j in range(degree + 1):
                acc += np.outer(coeff[m][:, j], coeff[k][:, j]) * power
                power = power * rho_m
            out[(m, k)][mask] = acc[mask]

    def _quadrature_pairs(self, q, rho, mask, orders, out, chunk=512):
        z, w = gauss_hermite(N_NODES_2D)
        z1, z2 = (a.ravel() for a in np.meshgrid(z, z, indexing="ij"))
        ww = np.outer(w, w).ravel()
        I, J = np.nonzero(mask)
        for start in range(0, I.size, chunk):
            i, j = I[start:start + chunk], J[start:start + chunk]
            qi, qj, r = q[i][:, None], q[j][:, None], rho[i, j][:, None]
            s = np.sqrt(np.maximum(1.0 - r * r, 0.0))
            ui = np.sqrt(qi) * z1
            uj = np.sqrt(qj) * (r * z1 + s * z2)
            need_s = any(0 in o for o in orders)
            si = self._eval(ui) if need_s else None
            sj = self._eval(uj) if need_s else None
            di, dj = self._eval(ui, order=1), self._eval(uj, order=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                # y = G⁻¹u in the Cholesky frame; P = G⁻¹
                yi = (z1 - r * z2 / s) / np.sqrt(qi)
                yj = z2 / (s * np.sqrt(qj))
                Pii, Pjj = 1 / (qi * s * s), 1 / (qj * s * s)
                Pij = -r / (np.sqrt(qi * qj) * s * s)
            weights = {
                (0, 0): lambda: si * sj,
                (1, 1): lambda: di * dj,
                (2, 2): lambda: di * dj * (yi * yj - Pij),
                (3, 1): lambda: di * dj * (yi * yi - Pii),
                (1, 3): lambda: di * dj * (yj * yj - Pjj),
                (2, 0): lambda: di * sj * yi,
                (0, 2): lambda: si * dj * yj,
            }
            for o in orders:
                out[o][i, j] = weights[o]() @ ww


def _pair_geometry(cov):
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square (N, N) matrix, got shape {cov.shape}")
    q = check_neuron_variances(np.diag(cov).copy())
    rho = np.clip(cov / np.sqrt(np.outer(q, q)), -1.0, 1.0)
    return cov, q, rho


def _check_not_parallel(rho, mask, name):
    bad = mask & (np.abs(rho) > 1 - PARALLEL_TOL)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"activation {name!r}: rows {i} and {j} of W are parallel (correlation {rho[i, j]:.12g}); "
            "the second-derivative Gaussian moments of the NT Gram are singular there. "
            "Remove duplicated or parallel neurons."
        )


# ---------------------------------------------------------------- ReLU: closed forms
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


@dataclass(frozen=True, eq=False)
class _ReLU(Activation):
    """σ(u) = max(u, 0) with the arc-cosine closed forms (Cho & Saul 2009).

    For (u_i, u_j) centred Gaussian with variances q_i, q_j, covariance c,
    r = √(q_i q_j), cos θ = c/r, s = sin θ:

    * E σσ = r (s + (π - θ) cos θ) / (2π)           (arc-cosine kernel, degree 1)
    * E σ'σ' = (π - θ) / (2π)                        (degree 0)
    * E σ''σ'' = E δ(u_i)δ(u_j) = 1 / (2π r s)
    * E σ'''_i σ'_j = -cos θ / (2π q_i s)
    * E σ''_i σ_j = r s / (2π q_i)
    """

    def hermite_coefficients(self, degree, variance=1.0):
        q = np.asarray(variance, dtype=np.float64)
        return np.sqrt(q)[..., None] * _relu_hermite_unit(degree)

    def moments(self, variance):
        q = np.asarray(variance, dtype=np.float64)
        half = np.full(q.shape, 0.5)
        return GaussianMoments(
            mean=np.sqrt(q) / _SQRT_2PI,
            second=q / 2,
            d_second=half,
            d_second_curv=np.zeros(q.shape),
            cross_grad=half.copy(),
            d2_mean=1.0 / np.sqrt(q * 2 * np.pi),
        )

    def pair_moments(self, cov, orders=PAIR_ORDERS):
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
        with np.errstate(divide="ignore", invalid="ignore"):
            forms = {
                (0, 0): lambda: r * (s + (np.pi - theta) * rho) / (2 * np.pi),
                (1, 1): lambda: (np.pi - theta) / (2 * np.pi),
                (2, 2): lambda: 1.0 / (2 * np.pi * r * s),
                (3, 1): lambda: -rho / (2 * np.pi * qi * s),
                (1, 3): lambda: -rho / (2 * np.pi * qj * s),
                (2, 0): lambda: r * s / (2 * np.pi * qi),
                (0, 2): lambda: r * s / (2 * np.pi * qj),
            }
            out = {}
            for o in orders:
                m = forms[o]()
                m[~off] = np.nan
                out[o] = m
        return out


# ---------------------------------------------------------------- built-in activations
def _relu_fn(u):
    return u.clamp(min=0) if _is_torch(u) else np.maximum(u, 0.0)


def _relu_derivative(u):
    return (u > 0).to(u.dtype) if _is_torch(u) else (np.asarray(u) > 0).astype(np.float64)


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


quadratic = Activation("quadratic", fn=lambda u: u * u, derivative=lambda u: 2 * u, poly=(0.0, 0.0, 1.0))
relu = _ReLU("relu", fn=_relu_fn, derivative=_relu_derivative)
tanh = Activation("tanh", fn=_tanh_fn, derivative=_tanh_derivative)
gelu = Activation("gelu", fn=_gelu_fn, derivative=_gelu_derivative)

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

_REGISTRY: dict[str, Activation] = {a.name: a for a in (quadratic, relu, tanh, gelu, hermite23)}


def get_activation(activation) -> Activation:
    """Return the :class:`Activation` for a name, an object or a user function.

    Parameters
    ----------
    activation : str, Activation or callable
        A built-in name (``'quadratic'``, ``'relu'``, ``'tanh'``, ``'gelu'``, ``'hermite23'`` = h₂ + h₃),
        an Activation (passed through) or a function σ (wrapped with
        :meth:`Activation.from_function`, derivative numerical).

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
