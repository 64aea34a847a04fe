"""Activation functions as objects.

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
"""

from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np
from scipy import special

from . import _quadrature as _quad
from ._validation import check_neuron_variances

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


def _merge_close(points, rel=1e-9) -> tuple:
    """Sorted points with near-duplicates (within rel·max(1, |c|)) merged."""
    out = []
    for c in sorted(points):
        if not out or abs(c - out[-1]) > rel * max(1.0, abs(c)):
            out.append(c)
    return tuple(out)


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


def _stencil_derivative(f, u, h, side):
    """σ'(u) by 5-point differences: central (side 0), forward (+1) or backward (-1)."""
    if side == 0:
        return (-f(u + 2 * h) + 8 * f(u + h) - 8 * f(u - h) + f(u - 2 * h)) / (12 * h)
    g = side * h
    return (-25 * f(u) + 48 * f(u + g) - 36 * f(u + 2 * g) + 16 * f(u + 3 * g) - 3 * f(u + 4 * g)) / (12 * g)


def _numeric_derivative(f, u, kinks=()):
    """σ'(u) of a user function: autograd on torch tensors, 5-point differences on arrays.

    The step h = 1e-3·max(1, |u|) gives an error of about h⁴ |σ⁽⁵⁾|/30 +
    1e-16 |σ|/h ≈ 1e-12 for smooth σ in float64. Within 2.5h of a kink the
    stencil is one-sided, on the side away from the kink (no stencil crosses it).
    """
    if _is_torch(u):
        import torch

        with torch.enable_grad():
            x = u if u.requires_grad else u.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=u.requires_grad)
        return g
    u = np.asarray(u, dtype=np.float64)
    h = 1e-3 * np.maximum(1.0, np.abs(u))
    out = _stencil_derivative(f, u, h, 0)
    for c in kinks:
        near = np.abs(u - c) < 2.5 * h
        if near.any():
            un, hn = u[near], h[near]
            side = np.where(un >= c, 1.0, -1.0)
            fwd = _stencil_derivative(f, un, hn, 1)
            bwd = _stencil_derivative(f, un, hn, -1)
            out[near] = np.where(side > 0, fwd, bwd)
    return out


def detect_kinks(fn, lo: float, hi: float, n: int = 4097, max_kinks: int = 16) -> tuple:
    """Points in [lo, hi] where the slope of fn jumps (kinks), located to ~1e-13 relative.

    A grid of n points flags cells where the slope changes by more than
    1e-8 of the largest slope; each candidate is zoomed in on (33 points per
    round) until its bracket is below 1e-13·max(1, |u|), and kept if the
    one-sided slopes at distance 2-3·10⁻⁶ differ by more than 1e-4 of the
    largest slope (a smooth σ gives ~5·10⁻⁶ |σ''|). Positions within 1e-11
    of zero are set to 0.
    """
    u = np.linspace(lo, hi, n)
    y = np.asarray(fn(u), dtype=np.float64)
    h = u[1] - u[0]
    slope = np.diff(y) / h
    scale = float(np.max(np.abs(slope))) if slope.size else 0.0
    if not scale > 0:
        return ()
    jumps = np.abs(np.diff(slope))
    # a kink changes the slope in one or two adjacent cells; a smooth σ changes it in all of them
    pad = np.concatenate([[0.0, 0.0], jumps, [0.0, 0.0]])
    isolated = jumps > 4.0 * np.maximum(pad[:-4], pad[4:]) + 1e-8 * scale
    order = [k for k in np.argsort(-jumps) if isolated[k]][: 4 * max_kinks]
    found = []
    for k in order:
        a, b = u[k], u[k + 2]
        for _ in range(80):
            if b - a <= 1e-13 * max(1.0, abs(a), abs(b)):
                break
            uu = np.linspace(a, b, 33)
            yy = np.asarray(fn(uu), dtype=np.float64)
            dd = np.abs(np.diff(np.diff(yy)))
            j = int(np.argmax(dd))
            a, b = uu[j], uu[j + 2]
        c = 0.5 * (a + b)
        delta = 1e-6 * max(1.0, abs(c))
        pts = np.array([c - 3 * delta, c - 2 * delta, c + 2 * delta, c + 3 * delta])
        f = np.asarray(fn(pts), dtype=np.float64)
        jump = abs((f[3] - f[2]) - (f[1] - f[0])) / delta
        if jump > 1e-4 * scale:
            c = 0.0 if abs(c) < 1e-11 else c
            if all(abs(c - e) > 1e-9 * max(1.0, abs(c)) for e in found):
                found.append(c)
        if len(found) >= max_kinks:
            break
    return tuple(sorted(found))


#: Gauss-Legendre nodes per panel (1-D moments, Hermite coefficients; 2-D pair moments).
P_1D = 20
P_2D = 12
#: Half-width L of the 1-D and 2-D rules (in z); Hermite coefficients of degree D use max(L, 2√D + 8).
L_1D = 12.0
L_2D = 9.0
#: Width of the uniform panels of the 2-D rule (the 1-D rules use 1).
BASE_2D = 2.25
#: Rows of the Hermite table per chunk (memory).
_CHUNK_ELEMENTS = 4_000_000


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

    # ------------------------------------------------------------ quadrature rules
    def _features(self, sqrt_q, half_width):
        """Feature points in z for rows with standard deviations √q: 0 and the kinks c/√q."""
        kinks = self._detected(half_width * float(np.max(sqrt_q)))
        cols = [np.zeros_like(sqrt_q)] + [c / sqrt_q for c in kinks]
        return np.stack(cols, axis=-1)

    def _rules_1d(self, sqrt_q, half_width, p=P_1D):
        br = _quad.graded_breaks(self._features(sqrt_q, half_width), _quad.grading_depth(np.max(sqrt_q) ** 2),
                                 half_width)
        return _quad.two_rules(br, p)

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
        if self.poly is not None:
            z, w = gauss_hermite(max(len(self.poly) // 2 + degree // 2 + 2, 8))
            vals = self._eval(np.sqrt(qf)[:, None] * z)
            tab = hermite_table(z, degree)
            b = (vals * w) @ tab
            err = 32 * _quad.EPS * (np.abs(vals) * w) @ np.abs(tab)
        else:
            L = max(L_1D, 2.0 * math.sqrt(degree) + 8.0)
            sq = np.sqrt(qf)
            b = np.empty((qf.size, degree + 1))
            err = np.empty_like(b)
            rows = max(1, _CHUNK_ELEMENTS // (8 * (degree + 1) * (int(4 * L) + 60) * P_1D))
            for s in range(0, qf.size, rows):
                sl = slice(s, s + rows)
                (zc, wc), (zf, wf) = self._rules_1d(sq[sl], L)
                out = []
                for z, w in ((zc, wc), (zf, wf)):
                    vals = self._eval(sq[sl, None] * z) * w
                    tab = hermite_table(z, degree)
                    out.append((np.einsum("mn,mnk->mk", vals, tab), np.einsum("mn,mnk->mk", np.abs(vals), np.abs(tab))))
                b[sl] = out[1][0]
                err[sl] = _quad.estimate(out[0][0], out[1][0], out[1][1])
        b = b.reshape(shape + (degree + 1,))
        return (b, err.reshape(b.shape)) if return_error else b

    def moments(self, variance, return_error: bool = False):
        """One-dimensional expectations at u ~ N(0, q), q = ``variance`` (see :class:`GaussianMoments`).

        With ``return_error=True`` also a :class:`GaussianMoments` of error estimates.
        """
        q = np.asarray(variance, dtype=np.float64)
        shape = q.shape
        qf = check_neuron_variances(q.reshape(-1).copy()) if q.size else q.reshape(-1)
        sq = np.sqrt(qf)[:, None]
        if self.poly is not None:
            z, w = gauss_hermite(len(self.poly) + 4)
            rules = [(np.broadcast_to(z, (qf.size, z.size)), w)]
        else:
            rules = list(self._rules_1d(sq[:, 0], L_1D))
        results = []
        for z, w in rules:
            u = sq * z
            s, ds = self._eval(u), self._eval(u, order=1)
            terms = (s, s * s, ds * ds, ds * ds * (z * z - 1), s * ds * z, ds * z)
            results.append(([(t * w).sum(-1) for t in terms], [(np.abs(t) * w).sum(-1) for t in terms]))
        div = (1.0, 1.0, 1.0, qf, sq[:, 0], sq[:, 0])
        fine = [v / d for v, d in zip(results[-1][0], div)]
        coarse = [v / d for v, d in zip(results[0][0], div)]
        mag = [v / d for v, d in zip(results[-1][1], div)]
        err = [_quad.estimate(c, f, m) if len(results) > 1 else 32 * _quad.EPS * m
               for c, f, m in zip(coarse, fine, mag)]
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
            self._series_pairs(q, rho, series, orders, out, err)
        rest = off & ~series
        if rest.any():
            if any(max(o) >= 2 for o in orders):
                _check_not_parallel(rho, rest, self.name)
            self._quadrature_pairs(q, rho, rest, orders, out, err)
        return (out, err) if return_error else out

    def _series_pairs(self, q, rho, mask, orders, out, err=None):
        if self.poly is not None:
            degree = len(self.poly) - 1
        else:
            r = float(np.max(np.abs(rho[mask])))
            degree = MAX_SERIES_DEGREE if r > 0 else 0
            if 0 < r < 1:
                degree = min(MAX_SERIES_DEGREE, int(math.ceil(-40.0 / math.log(r))) + 8)
        top = max(m for o in orders for m in o)
        b, db = self.hermite_coefficients(degree + top + 1, q, return_error=True)
        ms = {m for o in orders for m in o}
        coeff = {m: derivative_coefficients(b, q, m, degree + 1) for m in ms}
        dcoeff = {m: derivative_coefficients(db, q, m, degree + 1) for m in ms}
        rho_m = np.where(mask, rho, 0.0)
        arho = np.abs(rho_m)
        for (m, k) in orders:
            acc = np.zeros_like(rho_m)
            e = np.zeros_like(rho_m)
            power = np.ones_like(rho_m)
            apower = np.ones_like(rho_m)
            for j in range(degree + 1):
                acc += np.outer(coeff[m][:, j], coeff[k][:, j]) * power
                e += (np.outer(dcoeff[m][:, j], np.abs(coeff[k][:, j]))
                      + np.outer(np.abs(coeff[m][:, j]), dcoeff[k][:, j])) * apower
                power = power * rho_m
                apower = apower * arho
            # first omitted term, times 1/(1 - |ρ|) for the geometric tail
            if self.poly is None:
                e += np.abs(np.outer(coeff[m][:, degree + 1], coeff[k][:, degree + 1])) * apower / (1 - arho)
            out[(m, k)][mask] = acc[mask]
            if err is not None:
                err[(m, k)][mask] = e[mask] + 32 * _quad.EPS * np.abs(acc[mask])

    def _quadrature_pairs(self, q, rho, mask, orders, out, err=None):
        # one orientation per pair: (m, n) at (j, i) is (n, m) at (i, j)
        I, J = np.nonzero(np.triu(mask | mask.T, 1))
        both = sorted({o for o in orders} | {o[::-1] for o in orders})
        sq = np.sqrt(q)
        kinks = self._detected(L_2D * float(np.max(sq)))
        feats = [0.0] + list(kinks)
        # the inner integral smooths σ(u_j) over a width ∝ √(1-ρ²): grade the outer panels that far too
        s_min = float(np.sqrt(np.maximum(1.0 - np.max(rho[I, J] ** 2), 1e-300)))
        depth_i = _quad.grading_depth(max(float(np.max(q[I])), 1.0 / s_min**2))
        need_s = any(0 in o for o in both)
        n1 = (int(2 * L_2D / BASE_2D) + 2 * (depth_i + 2) * (2 * len(feats)) + 4) * P_2D
        chunk = max(1, int(_CHUNK_ELEMENTS // (n1 * n1)))
        for start in range(0, I.size, chunk):
            i, j = I[start:start + chunk], J[start:start + chunk]
            r = rho[i, j][:, None]
            s = np.sqrt(np.maximum(1.0 - r * r, 0.0))
            qi, qj = q[i][:, None], q[j][:, None]
            sqi, sqj = sq[i][:, None], sq[j][:, None]
            # outer features: 0, the kinks of σ(u_i), and where u_j's mean √q_j ρ z_i crosses a kink
            f1 = np.concatenate([self._features(sq[i], L_2D)]
                                + [(c / (sq[j] * rho[i, j]))[:, None] for c in kinks], axis=-1)
            br1 = _quad.graded_breaks(f1, depth_i, L_2D, base=BASE_2D)
            depth_j = _quad.grading_depth(np.max(q[j] * s[:, 0] ** 2))
            vals = []
            for (z1, w1) in _quad.two_orders(br1, P_2D):                 # (P, n1)
                f2 = np.stack([(c / sqj - r * z1) / s for c in feats], axis=-1)  # (P, n1, F)
                br2 = _quad.graded_breaks(f2, depth_j, L_2D, base=BASE_2D)
                p2 = P_2D if len(vals) else max(2, (2 * P_2D) // 3)
                z2, w2 = _quad.panel_rule(br2, p2)                          # (P, n1, n2)
                ww = w1[:, :, None] * w2
                zz1 = z1[:, :, None]
                ui = sqi * z1
                uj = sqj[:, :, None] * (r[:, :, None] * zz1 + s[:, :, None] * z2)
                di = self._eval(ui, order=1)[:, :, None]
                dj = self._eval(uj, order=1)
                si = self._eval(ui)[:, :, None] if need_s else None
                sj = self._eval(uj) if need_s else None
                ss = s[:, :, None]
                # y = G⁻¹u in the Cholesky frame; P = G⁻¹
                yi = (zz1 - r[:, :, None] * z2 / ss) / sqi[:, :, None]
                yj = z2 / (ss * sqj[:, :, None])
                Pii = 1 / (qi * s * s)[:, :, None]
                Pjj = 1 / (qj * s * s)[:, :, None]
                Pij = (-r / (sqi * sqj * s * s))[:, :, None]
                res = {}
                for o in both:
                    f = _pair_integrand(o, si, sj, di, dj, yi, yj, Pii, Pjj, Pij)
                    res[o] = ((f * ww).sum(axis=(1, 2)), (np.abs(f) * ww).sum(axis=(1, 2)))
                vals.append(res)
            for o in both:
                value = vals[1][o][0]
                e = _quad.estimate(vals[0][o][0], value, vals[1][o][1])
                for (a, b, oo) in ((i, j, o), (j, i, o[::-1])):
                    if oo in out:
                        sel = mask[a, b]
                        out[oo][a[sel], b[sel]] = value[sel]
                        if err is not None:
                            err[oo][a[sel], b[sel]] = e[sel]


class _TorchBridge:
    """Calls a user function on torch tensors directly when it accepts them, else through numpy.

    The bridge detaches the tensor, evaluates in float64 numpy and returns a
    tensor of the input's dtype and device: enough for the training loop,
    whose gradients are written by hand from σ and σ' values.
    """

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "custom")
        self._native = None

    def native(self, u) -> bool:
        """True when fn maps a torch tensor that requires grad to a tensor, without warnings."""
        if self._native is None:
            import warnings

            import torch

            try:
                x = torch.linspace(-1.0, 1.0, 3, dtype=torch.float64, requires_grad=True)
            except RuntimeError:  # inside a functorch transform: probe without autograd
                x = u.detach().reshape(-1)[:3].clone()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    out = self.fn(x)
                self._native = _is_torch(out) and tuple(out.shape) == tuple(x.shape)
            except Exception:
                self._native = False
        return self._native

    @staticmethod
    def bridge(f, u):
        import torch

        x = u.detach().to("cpu", torch.float64).numpy()
        return torch.as_tensor(np.asarray(f(x), dtype=np.float64), device=u.device).to(u.dtype)

    def __call__(self, u):
        if _is_torch(u) and not self.native(u):
            return self.bridge(self.fn, u)
        return self.fn(u)


def _pair_integrand(order, si, sj, di, dj, yi, yj, Pii, Pjj, Pij):
    """The integrand of the pair moment ``order`` = (i, j) on the 2-D quadrature grid: products of σ
    (s) and σ' (d) at the two pre-activations, with y = G⁻¹u and P = G⁻¹ (Stein's lemma)."""
    if order == (0, 0):
        return si * sj
    if order == (1, 1):
        return di * dj
    if order == (2, 2):
        return di * dj * (yi * yj - Pij)
    if order == (3, 1):
        return di * dj * (yi * yi - Pii)
    if order == (1, 3):
        return di * dj * (yj * yj - Pjj)
    if order == (2, 0):
        return di * sj * yi
    if order == (0, 2):
        return si * dj * yj
    raise ValueError(f"order must be one of the pair moments' orders, got {order!r}")


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


# ---------------------------------------------------------------- linear + ReLU: closed forms
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


# ---------------------------------------------------------------- built-in activations
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
