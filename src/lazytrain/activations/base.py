"""The base class: :class:`Activation`, σ and σ' with their Gaussian expectations.

One object per activation gives everything a solver may ask for: σ and σ'
(on numpy arrays and torch tensors alike, :mod:`.torch_bridge`), the
normalised Hermite coefficients of u ↦ σ(√q·u), and the one- and
two-dimensional Gaussian expectations, each with an error estimate. The
generic path integrates by quadrature split at the kinks of σ
(:mod:`.quadrature`); subclasses with closed forms override it
(:mod:`.closed_forms`). Also here: :class:`GaussianMoments`, the 1-D
expectations, and :class:`MomentAccuracyError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from .._validation import check_neuron_variances
from . import quadrature as _kq
from .quadrature import PAIR_ORDERS, RHO_SERIES, _check_not_parallel, _merge_close, _pair_geometry, detect_kinks
from .torch_bridge import _is_torch, _numeric_derivative, _TorchBridge

#: The expectations of the infinite-width kernels (:meth:`Activation.pair_expectations`):
#: (0, 0) is E[σ(u) σ(u')], (1, 1) is E[σ'(u) σ'(u')].
KERNEL_ORDERS = ((0, 0), (1, 1))


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


class MomentAccuracyError(ArithmeticError):
    """A Gaussian moment (or a risk built from moments) missed its stated accuracy.

    Attributes
    ----------
    activation : str
        Name of the activation.
    weight_norm : tuple of float
        Smallest and largest ‖w_i‖ (√q_i) involved.
    moment : str
        Which moment (or solver quantity) failed.
    estimate, tolerance : float
        The error estimate and the accuracy that was asked for.
    """

    def __init__(self, activation, weight_norm, moment, estimate, tolerance, hint=""):
        self.activation = activation
        self.weight_norm = tuple(float(x) for x in weight_norm)
        self.moment = moment
        self.estimate = float(estimate)
        self.tolerance = float(tolerance)
        lo, hi = self.weight_norm
        norm = f"{lo:.3g}" if math.isclose(lo, hi, rel_tol=1e-6) else f"{lo:.3g}..{hi:.3g}"
        super().__init__(
            f"activation {activation!r} at weight norm ‖w‖ = {norm}: {moment} has estimated error "
            f"{self.estimate:.3g} > tolerance {self.tolerance:.3g}" + (f". {hint}" if hint else "")
        )


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
        else None. Then every Gaussian expectation below is exact
        (Gauss-Hermite quadrature and the Hermite series are exact for polynomials).
    kinks : tuple of float or None
        Points u where σ or σ' is not smooth. ``()`` for a smooth σ; None
        means unknown: they are detected numerically (:func:`detect_kinks`)
        over the range the moments need.

    Notes
    -----
    The generic methods integrate with composite Gauss-Legendre rules split
    at the kinks and at u = 0 and graded geometrically around them
    (:mod:`lazytrain._quadrature`), so σ(√q z) is resolved at every weight
    norm; each value carries an error estimate (``return_error=True``).
    Pairs with |ρ| ≤ 0.5 use the Mehler series E[f(u_i) g(u_j)] = Σ_k f_k g_k ρ^k.
    Subclasses override them with closed forms (ReLU, leaky ReLU, |u|).
    """

    name: str
    fn: Callable
    derivative: Callable
    poly: tuple | None = None
    kinks: tuple | None = ()
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

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
    def from_function(cls, fn, name=None, derivative=None, kinks=None) -> "Activation":
        """An activation from a user function σ (and optionally σ').

        Parameters
        ----------
        fn : callable
            σ, acting elementwise: it must return an array of its input's
            shape. A function written with numpy only also trains: on torch
            tensors it is called through numpy (no autograd through it; the
            training loop only needs σ and σ' values).
        name : str, optional
            Defaults to ``fn.__name__``.
        derivative : callable, optional
            σ'. When omitted: torch autograd on tensors when ``fn`` accepts
            them, otherwise 5-point differences (error ≈ 1e-12 for smooth σ,
            one-sided next to a kink).
        kinks : sequence of float, optional
            Points where σ or σ' jumps (e.g. ``[0.0]`` for a ReLU). The
            Gaussian expectations are split there, which makes them converge
            geometrically. When omitted, kinks are detected numerically
            (:func:`detect_kinks`); pass ``kinks=[]`` for a smooth σ to skip
            the detection.

        Raises
        ------
        ValueError
            If ``fn`` (or ``derivative``) is not callable, ``kinks`` is not a
            list of finite numbers, ``fn`` does not return an array of the
            input's shape, or returns NaN/inf on a probe grid.

        Examples
        --------
        >>> softplus = Activation.from_function(lambda u: np.logaddexp(0, u), name="softplus", kinks=[])
        >>> round(float(softplus.derivative(np.array(0.0))), 6)
        0.5
        """
        if not callable(fn):
            raise ValueError(f"activation must be a name, an Activation or a callable, got {fn!r}")
        if derivative is not None and not callable(derivative):
            raise ValueError(f"derivative must be callable or None, got {derivative!r}")
        if kinks is not None:
            try:
                kinks = tuple(sorted(float(c) for c in kinks))
            except (TypeError, ValueError):
                raise ValueError(f"kinks must be a list of finite numbers or None, got {kinks!r}") from None
            if not all(math.isfinite(c) for c in kinks):
                raise ValueError(f"kinks must be a list of finite numbers or None, got {kinks!r}")
        if name is None:
            name = getattr(fn, "__name__", "custom")
        user_fn = _TorchBridge(fn)
        if derivative is None:
            act_ref = []

            def derivative(u, _f=user_fn):
                if _is_torch(u) and not _f.native(u):
                    return _f.bridge(lambda x: _numeric_derivative(fn, x, act_ref[0]._kinks_near(x)), u)
                return _numeric_derivative(_f, u, act_ref[0]._kinks_near(u) if not _is_torch(u) else ())
        else:
            derivative = _TorchBridge(derivative)
            act_ref = None
        act = cls(str(name), user_fn, derivative, kinks=kinks)
        if act_ref is not None:
            act_ref.append(act)
        probe = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
        act._eval(probe)
        act._eval(probe, order=1)
        return act

    @classmethod
    def polynomial(cls, coefficients, name=None) -> "Activation":
        """σ(u) = Σ_k p_k u^k, with exact Gaussian expectations (coefficients p_0, p_1, ...)."""
        try:
            p = tuple(float(c) for c in coefficients)
        except (TypeError, ValueError):
            raise ValueError(f"coefficients must be a list of numbers, got {coefficients!r}") from None
        if not p or not all(math.isfinite(c) for c in p):
            raise ValueError(f"coefficients must be a non-empty list of finite numbers, got {coefficients!r}")
        while len(p) > 1 and p[-1] == 0.0:
            p = p[:-1]
        dp = tuple(k * c for k, c in enumerate(p))[1:] or (0.0,)

        def horner(coef):
            def f(u):
                out = 0 * u + coef[-1]
                for c in coef[-2::-1]:
                    out = out * u + c
                return out
            return f

        name = name or "poly(" + ", ".join(f"{c:g}" for c in p) + ")"
        return cls(str(name), horner(p), horner(dp), poly=p)

    def _kinks_near(self, u) -> tuple:
        """Kinks that matter for arguments u (declared, or detected over max |u|)."""
        if self.kinks is not None:
            return self.kinks
        u = np.asarray(u)
        reach = float(np.max(np.abs(u))) if u.size else 0.0
        return self._detected(reach)

    def _detected(self, reach: float) -> tuple:
        """Kinks detected in [-R, R], R ≥ reach a power of 2 (≥ 4), cached per R.

        Each range is scanned together with all smaller ones (R/2, R/4, ...
        down to 4), so kinks close together near 0 are resolved however
        far the range reaches.
        """
        if self.kinks is not None:
            return self.kinks
        top = max(2, math.ceil(math.log2(max(reach, 1.0))))
        found = set()
        for e in range(2, top + 1):
            if e not in self._cache:
                R = 2.0 ** e
                self._cache[e] = detect_kinks(lambda u: self._eval(np.asarray(u, dtype=np.float64)), -R, R)
            found |= set(self._cache[e])
        return _merge_close(found)

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
    def hermite_coefficients(self, degree: int, variance=1.0, return_error: bool = False):
        """Normalised Hermite coefficients b_k(q) = E[σ(√q z) h_k(z)], k = 0..degree.

        Parameters
        ----------
        degree : int
            Highest k.
        variance : float or array
            q, the variance of the pre-activation u = ⟨w, x⟩ (‖w‖² for x ~ N(0, I)).
        return_error : bool
            Also return an error estimate of the same shape.

        Returns
        -------
        ndarray of shape ``np.shape(variance) + (degree + 1,)``
            σ(√q z) = Σ_k b_k h_k(z) with h_k = He_k/√(k!). Polynomials:
            Gauss-Hermite (exact); otherwise graded composite Gauss-Legendre
            split at the kinks (see the class notes).
        """
        q = np.asarray(variance, dtype=np.float64)
        shape = q.shape
        qf = check_neuron_variances(q.reshape(-1).copy()) if q.size else q.reshape(-1)
        b, err = _kq.hermite_coefficients(self, degree, qf)
        b = b.reshape(shape + (degree + 1,))
        return (b, err.reshape(b.shape)) if return_error else b

    def moments(self, variance, return_error: bool = False):
        """One-dimensional expectations at u ~ N(0, q), q = ``variance`` (see :class:`GaussianMoments`).

        With ``return_error=True`` also a :class:`GaussianMoments` of error estimates.
        """
        q = np.asarray(variance, dtype=np.float64)
        shape = q.shape
        qf = check_neuron_variances(q.reshape(-1).copy()) if q.size else q.reshape(-1)
        fine, err = _kq.moments(self, qf)
        mom = GaussianMoments(*(v.reshape(shape) for v in fine))
        if return_error:
            return mom, GaussianMoments(*(e.reshape(shape) for e in err))
        return mom

    def pair_moments(self, cov, orders=PAIR_ORDERS, return_error: bool = False):
        """Two-dimensional expectations E[σ^(m)(u_i) σ^(n)(u_j)] for all pairs i ≠ j.

        Parameters
        ----------
        cov : array of shape (N, N)
            Covariance of the pre-activations u = W x (W Wᵀ for x ~ N(0, I)).
        orders : iterable of (m, n)
            Derivative orders, from :data:`PAIR_ORDERS`.
        return_error : bool
            Also return a dict of error estimates.

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
        with B^(m) from :func:`derivative_coefficients`; its error estimate
        propagates those of the coefficients plus the truncated tail. The
        others use a 2-D rule in (z_i, z_j|z_i): u_i = √q_i z_i,
        u_j = √q_j(ρ z_i + √(1-ρ²) z'), both directions split at the kinks of
        σ (for the inner one they move with z_i), with Stein's identity
        E[∂_i^a ∂_j^b F(u)] = E[F(u) H_ab(u)] (H_ab the bivariate Hermite
        polynomials of the covariance), so only σ and σ' are evaluated.
        """
        cov, q, rho = _pair_geometry(cov)
        orders = [tuple(o) for o in orders]
        n = q.shape[0]
        out = {o: np.full((n, n), np.nan) for o in orders}
        err = {o: np.full((n, n), np.nan) for o in orders}
        off = ~np.eye(n, dtype=bool)
        series = off & ((np.abs(rho) <= RHO_SERIES) | (self.poly is not None))
        if series.any():
            _kq.series_pairs(self, q, rho, series, orders, out, err)
        rest = off & ~series
        if rest.any():
            if any(max(o) >= 2 for o in orders):
                _check_not_parallel(rho, rest, self.name)
            _kq.quadrature_pairs(self, q, rho, rest, orders, out, err)
        return (out, err) if return_error else out

    def pair_expectations(self, q1, q2, rho, sin=None, orders=KERNEL_ORDERS, tol: float = 1e-12,
                          return_error: bool = False):
        """E[σ^(m)(u_i) σ^(n)(u'_j)] between two sets of pre-activations, for every pair (i, j).

        The expectations of the infinite-width kernels (:mod:`lazytrain.kernels`): unlike
        :meth:`pair_moments`, the rows and columns may differ and every entry is computed,
        parallel pre-activations (ρ = ±1, e.g. a kernel's diagonal) included.

        Parameters
        ----------
        q1, q2 : arrays of shape (n1,) and (n2,)
            Variances of u_i and of u'_j (positive).
        rho : array of shape (n1, n2)
            Correlations Cov(u_i, u'_j)/√(q1_i q2_j), in [-1, 1].
        sin : array of shape (n1, n2), optional
            √(1 - ρ²) when it is known more accurately than from ρ (nearly parallel inputs:
            from the angle between the vectors); 0 marks parallel pairs. Default: from ρ.
        orders : iterable of (0, 0) and (1, 1)
            (0, 0) is E σσ (the RF kernel), (1, 1) is E σ'σ' (the NT kernel's factor).
        tol : float
            Relative accuracy asked for: the Mehler series is used where its error bound (which
            includes the Cauchy-Schwarz bound of its whole tail) is ≤ tol·√(E f² E g²); the
            other non-parallel pairs use the 2-D rule split at the kinks, the parallel ones a
            1-D rule split at the kinks of both factors. Each estimate is returned, not checked.
        return_error : bool
            Also return a dict of error estimates.

        Returns
        -------
        dict mapping (m, n) to an (n1, n2) array (and the dict of error estimates).
        """
        q1, q2, rho, sin, orders = _kernel_arguments(self.name, q1, q2, rho, sin, orders)
        out = {o: np.full(rho.shape, np.nan) for o in orders}
        err = {o: np.full(rho.shape, np.nan) for o in orders}
        parallel = sin == 0
        if parallel.any() and self.poly is None:
            _kq.parallel_pairs(self, q1, q2, rho, parallel, orders, out, err)
        rest = ~parallel if self.poly is None else np.ones(rho.shape, dtype=bool)
        if rest.any():
            # the series where it meets tol (polynomials: everywhere, exact), the 2-D rule elsewhere
            series = rest & ((np.abs(rho) < 1.0) | (self.poly is not None))
            if series.any():
                _kq.series_pairs(self, q1, rho, series, orders, out, err, q2=q2, bound=self.poly is None)
            if self.poly is None:
                mom1, mom2 = self.moments(q1), self.moments(q2)
                second = {0: (mom1.second, mom2.second), 1: (mom1.d_second, mom2.d_second)}
                for o in orders:
                    scale = np.sqrt(np.outer(second[o[0]][0], second[o[1]][1]))
                    rest &= ~(series & (err[o] <= tol * scale))
                if rest.any():
                    _kq.quadrature_pairs(self, q1, rho, rest, orders, out, err, q2=q2, sin=sin)
        return (out, err) if return_error else out

    # the generic rules, as methods (the functions of :mod:`.quadrature`)
    _features = _kq.features
    _rules_1d = _kq.rules_1d
    _series_pairs = _kq.series_pairs
    _quadrature_pairs = _kq.quadrature_pairs


def _kernel_arguments(name, q1, q2, rho, sin, orders):
    """Check and normalise the arguments of :meth:`Activation.pair_expectations`."""
    q1 = check_neuron_variances(np.asarray(q1, dtype=np.float64).reshape(-1).copy())
    q2 = check_neuron_variances(np.asarray(q2, dtype=np.float64).reshape(-1).copy())
    rho = np.asarray(rho, dtype=np.float64)
    if rho.shape != (q1.size, q2.size):
        raise ValueError(f"rho must have shape (len(q1), len(q2)) = {(q1.size, q2.size)}, got {rho.shape}")
    if not np.all(np.abs(rho) <= 1.0):
        raise ValueError(f"rho must hold correlations in [-1, 1], got values up to {np.nanmax(np.abs(rho)):.6g}")
    if sin is None:
        sin = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    else:
        sin = np.asarray(sin, dtype=np.float64)
        if sin.shape != rho.shape or not np.all((sin >= 0) & (sin <= 1)):
            raise ValueError(f"sin must be an array of values in [0, 1] of rho's shape {rho.shape}")
    try:
        orders = [tuple(int(m) for m in o) for o in orders]
    except (TypeError, ValueError):
        raise ValueError(f"activation {name!r}: orders must be among {list(KERNEL_ORDERS)}, got {orders!r}") from None
    if not orders or any(o not in KERNEL_ORDERS for o in orders):
        raise ValueError(f"activation {name!r}: orders must be among {list(KERNEL_ORDERS)}, got {orders}")
    return q1, q2, rho, sin, orders
