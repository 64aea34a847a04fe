"""Weighted sums of χ²₁ variables, by characteristic-function inversion.

Q = Σ_j a_j χ²_{1,j} - C (independent χ²₁'s) has the characteristic function
φ(u) = E e^{iuQ} = e^{-iuC} Π_j (1 - 2i a_j u)^{-1/2}. Quadratic forms of
Gaussian vectors are such sums (eigenvalues of Σ^{1/2} M Σ^{1/2}); the mixture
uses them for its Bayes risks and for the 0-1 error of quadratic predictors.
Numerically exact: adaptive quadrature of smooth 1-D integrands (Imhof 1961;
Gil-Pelaez 1951).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.integrate
import scipy.special


def _integrate(integrand, a: np.ndarray, C: float, tail_bound, tol: float) -> float:
    """∫_0^∞ integrand(u) du, cut where ``tail_bound(U, |φ(U)|)`` < tol, in geometric pieces."""

    def abs_phi(u):
        return float(np.exp(-0.25 * np.sum(np.log1p(4.0 * a * a * u * u))))

    U = 1.0
    while tail_bound(U, abs_phi(U)) >= tol and U < 1e7:
        U *= 2.0
    tail = tail_bound(U, abs_phi(U))
    edges = np.concatenate([[0.0], np.geomspace(0.25, U, max(int(np.log2(U / 0.25)) + 1, 2))])
    speed = abs(C) + float(np.sum(np.abs(a)))  # bound on the phase speed of φ
    total, err = 0.0, tail
    for lo, hi in zip(edges[:-1], edges[1:]):
        limit = int(min(max(50, 4 * speed * (hi - lo)), 20000))
        val, abserr, *_ = scipy.integrate.quad(
            integrand, lo, hi, limit=limit, epsabs=tol / 10, epsrel=1e-10, full_output=1
        )
        total, err = total + val, err + abserr
    if err > 1e-4:
        warnings.warn(f"the Fourier inversion's error estimate is {err:.2g}", RuntimeWarning, stacklevel=4)
    return total


def char_fn(a: np.ndarray, C: float, u: float) -> complex:
    """φ(u) = e^{-iuC} Π_j (1 - 2i a_j u)^{-1/2} (a sum of principal logs: no branch jumps)."""
    return complex(np.exp(-1j * u * C - 0.5 * np.sum(np.log(1.0 - 2j * a * u))))


def expect_even(g_hat, a, C: float, tol: float = 1e-6, g_hat_tail=None) -> float:
    """E g(Q) for an even g with Fourier transform ĝ: (1/π) ∫_0^∞ ĝ(u) Re φ(u) du (Parseval).

    ``g_hat_tail(U)`` bounds ∫_U^∞ |ĝ|; the integral is cut where
    |φ(U)|·g_hat_tail(U) < tol.
    """
    a = np.asarray(a, dtype=np.float64)
    a = a[a != 0]
    val = _integrate(lambda u: g_hat(u) * char_fn(a, C, u).real, a, C,
                     lambda U, phi: phi * g_hat_tail(U), tol)
    return val / np.pi


def _prob_one(a: float, C):
    """P(a z² < C) for z ~ N(0, 1), a ≠ 0: erf/erfc of √(C/(2a))."""
    t = C / a
    if t <= 0:
        return 0.0 if a > 0 else 1.0
    root = np.sqrt(t / 2)
    return float(scipy.special.erf(root) if a > 0 else scipy.special.erfc(root))


def prob_negative(a, C: float, tol: float = 1e-6) -> float:
    """P(Q < 0) for Q = Σ_j a_j χ²_{1,j} - C.

    Gil-Pelaez: P(Q < 0) = ½ - (1/π) ∫_0^∞ Im φ(u)/u du. With r nonzero
    weights, |φ(u)| ≤ |φ(U)|(U/u)^{r/2} for u ≥ U, so the tail beyond U is at
    most (2/r)|φ(U)|/π. That decays too slowly for r ≤ 2, which are done
    directly: the χ²₁ distribution (r = 1) and a quadrature over the first
    variable (r = 2).
    """
    a = np.asarray(a, dtype=np.float64)
    a = a[np.abs(a) > 1e-12 * np.max(np.abs(a), initial=0.0)]  # rounding noise of a low-rank form
    if a.size == 0:
        return float(-C < 0)
    if a.size == 1:
        return float(_prob_one(a[0], C))
    if a.size == 2:
        a1, a2 = a
        def density(z):
            return np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

        kink = [np.sqrt(C / a1)] if C / a1 > 0 else None
        val, _ = scipy.integrate.quad(lambda z: 2 * density(z) * _prob_one(a2, C - a1 * z * z), 0, 40,
                                      points=kink, epsabs=tol / 10, limit=200)
        return float(val)
    val = _integrate(lambda u: char_fn(a, C, u).imag / u, a, C, lambda U, phi: 2.0 * phi / a.size, tol)
    return 0.5 - val / np.pi
