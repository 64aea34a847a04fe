"""Gaussian expectations of an activation by quadrature split at its kinks.

The generic path of :class:`~lazytrain.activations.base.Activation` (any σ
without a closed form): Hermite tables and coefficients, kink detection, the
1-D rules of :mod:`lazytrain._quadrature` split at the kinks of σ(√q z) and
graded around them, the Mehler series for weakly correlated pairs and the
2-D rule in (z_i, z_j | z_i) for the others, each with an error estimate.
The functions take the activation as their first argument (its σ, σ' and
kinks: ``act._eval``, ``act._detected``); the class's methods call them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special

from .. import _quadrature as _quad
from .._validation import check_neuron_variances

#: Pairs with |correlation| up to this value use the Hermite (Mehler) series.
RHO_SERIES = 0.5
#: Largest Hermite degree used by the series.
MAX_SERIES_DEGREE = 80
#: Pairs this close to parallel have singular second-derivative moments.
PARALLEL_TOL = 1e-10

#: Two-dimensional moments the solvers may ask for: (m, n) means
#: E[σ^(m)(u_i) σ^(n)(u_j)]. The transposes (1, 3), (0, 2) follow by symmetry.
PAIR_ORDERS = ((0, 0), (1, 1), (2, 2), (3, 1), (2, 0))


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


def _merge_close(points, rel=1e-9) -> tuple:
    """Sorted points with near-duplicates (within rel·max(1, |c|)) merged."""
    out = []
    for c in sorted(points):
        if not out or abs(c - out[-1]) > rel * max(1.0, abs(c)):
            out.append(c)
    return tuple(out)


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


def features(act, sqrt_q, half_width):
    """Feature points in z for rows with standard deviations √q: 0 and the kinks c/√q."""
    kinks = act._detected(half_width * float(np.max(sqrt_q)))
    cols = [np.zeros_like(sqrt_q)] + [c / sqrt_q for c in kinks]
    return np.stack(cols, axis=-1)


def rules_1d(act, sqrt_q, half_width, p=P_1D):
    """The coarse and the fine 1-D rule (:func:`lazytrain._quadrature.two_rules`) for rows with
    standard deviations √q, split at 0 and the kinks and graded around them."""
    br = _quad.graded_breaks(features(act, sqrt_q, half_width), _quad.grading_depth(np.max(sqrt_q) ** 2),
                             half_width)
    return _quad.two_rules(br, p)


def hermite_coefficients(act, degree: int, qf: np.ndarray):
    """b_k(q) = E[σ(√q z) h_k(z)], k = 0..degree, and their error estimates, for a flat array of
    variances (checked by the caller): shape (qf.size, degree + 1) each. Polynomials:
    Gauss-Hermite (exact); otherwise graded composite Gauss-Legendre split at the kinks."""
    if act.poly is not None:
        z, w = gauss_hermite(max(len(act.poly) // 2 + degree // 2 + 2, 8))
        vals = act._eval(np.sqrt(qf)[:, None] * z)
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
            (zc, wc), (zf, wf) = rules_1d(act, sq[sl], L)
            out = []
            for z, w in ((zc, wc), (zf, wf)):
                vals = act._eval(sq[sl, None] * z) * w
                tab = hermite_table(z, degree)
                out.append((np.einsum("mn,mnk->mk", vals, tab), np.einsum("mn,mnk->mk", np.abs(vals), np.abs(tab))))
            b[sl] = out[1][0]
            err[sl] = _quad.estimate(out[0][0], out[1][0], out[1][1])
    return b, err


def moments(act, qf: np.ndarray):
    """The six one-dimensional expectations of :class:`~lazytrain.activations.base.GaussianMoments`
    and their error estimates (two lists of arrays over the flat, checked variances ``qf``)."""
    sq = np.sqrt(qf)[:, None]
    if act.poly is not None:
        z, w = gauss_hermite(len(act.poly) + 4)
        rules = [(np.broadcast_to(z, (qf.size, z.size)), w)]
    else:
        rules = list(rules_1d(act, sq[:, 0], L_1D))
    results = []
    for z, w in rules:
        u = sq * z
        s, ds = act._eval(u), act._eval(u, order=1)
        terms = (s, s * s, ds * ds, ds * ds * (z * z - 1), s * ds * z, ds * z)
        results.append(([(t * w).sum(-1) for t in terms], [(np.abs(t) * w).sum(-1) for t in terms]))
    div = (1.0, 1.0, 1.0, qf, sq[:, 0], sq[:, 0])
    fine = [v / d for v, d in zip(results[-1][0], div)]
    coarse = [v / d for v, d in zip(results[0][0], div)]
    mag = [v / d for v, d in zip(results[-1][1], div)]
    err = [_quad.estimate(c, f, m) if len(results) > 1 else 32 * _quad.EPS * m
           for c, f, m in zip(coarse, fine, mag)]
    return fine, err


def series_pairs(act, q, rho, mask, orders, out, err=None, q2=None, bound=False):
    """Pair moments by the Mehler series on the entries in ``mask``, written into ``out`` (and ``err``).

    ``q`` holds the variances of the rows, ``q2`` those of the columns (default: the same, the
    square case of :meth:`Activation.pair_moments`). The error estimate propagates the
    coefficients' errors and adds the first omitted term over 1 - |ρ|; with ``bound`` (orders
    with derivatives ≤ 1 only) also the Cauchy-Schwarz bound of the whole tail,
    |ρ|^(K+1) √(T_f T_g) with T_f = E f² - Σ_{k≤K} f_k² (E f² from :meth:`Activation.moments`),
    which holds whatever the signs and zeros of the omitted coefficients.
    """
    square = q2 is None
    q2 = q if square else q2
    if act.poly is not None:
        degree = len(act.poly) - 1
    else:
        r = float(np.max(np.abs(rho[mask])))
        degree = MAX_SERIES_DEGREE if r > 0 else 0
        if 0 < r < 1:
            degree = min(MAX_SERIES_DEGREE, int(math.ceil(-40.0 / math.log(r))) + 8)
    top = max(m for o in orders for m in o)
    b, db = act.hermite_coefficients(degree + top + 1, q, return_error=True)
    b2, db2 = (b, db) if square else act.hermite_coefficients(degree + top + 1, q2, return_error=True)
    ms = {m for o in orders for m in o}
    coeff = {m: derivative_coefficients(b, q, m, degree + 1) for m in ms}
    dcoeff = {m: derivative_coefficients(db, q, m, degree + 1) for m in ms}
    coeff2 = coeff if square else {m: derivative_coefficients(b2, q2, m, degree + 1) for m in ms}
    dcoeff2 = dcoeff if square else {m: derivative_coefficients(db2, q2, m, degree + 1) for m in ms}
    if bound:
        tails = (_tail_energy(act, q, coeff, dcoeff, degree), _tail_energy(act, q2, coeff2, dcoeff2, degree))
    rho_m = np.where(mask, rho, 0.0)
    arho = np.abs(rho_m)
    for (m, k) in orders:
        acc = np.zeros_like(rho_m)
        e = np.zeros_like(rho_m)
        power = np.ones_like(rho_m)
        apower = np.ones_like(rho_m)
        for j in range(degree + 1):
            acc += np.outer(coeff[m][:, j], coeff2[k][:, j]) * power
            e += (np.outer(dcoeff[m][:, j], np.abs(coeff2[k][:, j]))
                  + np.outer(np.abs(coeff[m][:, j]), dcoeff2[k][:, j])) * apower
            power = power * rho_m
            apower = apower * arho
        # first omitted term, times 1/(1 - |ρ|) for the geometric tail
        if act.poly is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                e += np.abs(np.outer(coeff[m][:, degree + 1], coeff2[k][:, degree + 1])) * apower / (1 - arho)
            if bound:
                e += np.sqrt(np.outer(tails[0][m], tails[1][k])) * apower
        out[(m, k)][mask] = acc[mask]
        if err is not None:
            err[(m, k)][mask] = e[mask] + 32 * _quad.EPS * np.abs(acc[mask])


def _tail_energy(act, q, coeff, dcoeff, degree):
    """Upper bounds of Σ_{k>K} f_k² = E f² - Σ_{k≤K} f_k² for f = σ (m = 0) and σ' (m = 1)."""
    mom, merr = act.moments(q, return_error=True)
    total = {0: (mom.second, merr.second), 1: (mom.d_second, merr.d_second)}
    out = {}
    for m in coeff:
        if m not in total:
            raise ValueError(f"the series tail bound needs derivative orders 0 or 1, got {m}")
        c, dc = coeff[m][:, :degree + 1], dcoeff[m][:, :degree + 1]
        head = np.sum(c * c, axis=1)
        slack = total[m][1] + np.sum(2 * np.abs(c) * dc + dc * dc, axis=1) + 32 * _quad.EPS * total[m][0]
        out[m] = np.maximum(total[m][0] - head + slack, 0.0)
    return out


def quadrature_pairs(act, q, rho, mask, orders, out, err=None, q2=None, sin=None):
    """Pair moments by the 2-D rule split at the kinks on the entries in ``mask``, written into ``out``.

    ``q`` holds the variances of the rows, ``q2`` those of the columns (default: the same, the
    square symmetric case); ``sin`` is √(1 - ρ²) when known more accurately than from ρ (nearly
    parallel inputs), > 0 on ``mask``.
    """
    square = q2 is None
    q2 = q if square else q2
    if square:
        # one orientation per pair: (m, n) at (j, i) is (n, m) at (i, j)
        I, J = np.nonzero(np.triu(mask | mask.T, 1))
        both = sorted({o for o in orders} | {o[::-1] for o in orders})
    else:
        I, J = np.nonzero(mask)
        both = sorted(set(orders))
    sq = np.sqrt(q)
    sq2 = sq if square else np.sqrt(q2)
    kinks = act._detected(L_2D * float(np.max(sq) if square else max(np.max(sq), np.max(sq2))))
    feats = [0.0] + list(kinks)
    # the inner integral smooths σ(u_j) over a width ∝ √(1-ρ²): grade the outer panels that far too
    if sin is None:
        s_min = float(np.sqrt(np.maximum(1.0 - np.max(rho[I, J] ** 2), 1e-300)))
    else:
        s_min = max(float(np.min(sin[I, J])), 1e-150)
    depth_i = _quad.grading_depth(max(float(np.max(q[I])), 1.0 / s_min**2))
    need_s = any(0 in o for o in both)
    n1 = (int(2 * L_2D / BASE_2D) + 2 * (depth_i + 2) * (2 * len(feats)) + 4) * P_2D
    chunk = max(1, int(_CHUNK_ELEMENTS // (n1 * n1)))
    for start in range(0, I.size, chunk):
        i, j = I[start:start + chunk], J[start:start + chunk]
        r = rho[i, j][:, None]
        s = np.sqrt(np.maximum(1.0 - r * r, 0.0)) if sin is None else sin[i, j][:, None]
        qi, qj = q[i][:, None], q2[j][:, None]
        sqi, sqj = sq[i][:, None], sq2[j][:, None]
        # outer features: 0, the kinks of σ(u_i), and where u_j's mean √q_j ρ z_i crosses a kink
        with np.errstate(divide="ignore"):
            f1 = np.concatenate([features(act, sq[i], L_2D)]
                                + [(c / (sq2[j] * rho[i, j]))[:, None] for c in kinks], axis=-1)
        br1 = _quad.graded_breaks(f1, depth_i, L_2D, base=BASE_2D)
        depth_j = _quad.grading_depth(np.max(q2[j] * s[:, 0] ** 2))
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
            di = act._eval(ui, order=1)[:, :, None]
            dj = act._eval(uj, order=1)
            si = act._eval(ui)[:, :, None] if need_s else None
            sj = act._eval(uj) if need_s else None
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
            for (a, b, oo) in ((i, j, o), (j, i, o[::-1])) if square else ((i, j, o),):
                if oo in out:
                    sel = mask[a, b]
                    out[oo][a[sel], b[sel]] = value[sel]
                    if err is not None:
                        err[oo][a[sel], b[sel]] = e[sel]


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


def parallel_pairs(act, q1, q2, rho, mask, orders, out, err=None):
    """E[σ^(m)(u) σ^(n)(u')] for parallel pre-activations (ρ = ±1) on the entries in ``mask``.

    Then u = √q1 z and u' = ρ√q2 z: a 1-D expectation, by the 1-D rules (bisected panels for the
    estimate) split at 0 and at the kinks of both factors, c/√q1 and ρc/√q2, and graded around them.
    Derivative orders ≤ 1 only (σ''σ'' is singular there).
    """
    if any(max(o) > 1 for o in orders):
        raise ValueError(f"activation {act.name!r}: parallel pre-activations (correlation ±1) have "
                         f"finite moments of derivative orders ≤ 1 only, got orders {list(orders)}")
    I, J = np.nonzero(mask)
    sq1, sq2 = np.sqrt(q1), np.sqrt(q2)
    kinks = act._detected(L_1D * float(max(np.max(sq1), np.max(sq2))))
    depth = _quad.grading_depth(max(float(np.max(q1[I])), float(np.max(q2[J]))))
    nodes = 2 * (int(2 * L_1D) + 2 * (depth + 2) * (1 + 2 * len(kinks)) + 4) * P_1D
    chunk = max(1, _CHUNK_ELEMENTS // (4 * nodes))
    for start in range(0, I.size, chunk):
        i, j = I[start:start + chunk], J[start:start + chunk]
        a, b = sq1[i][:, None], (rho[i, j] * sq2[j])[:, None]      # u = a z, u' = b z
        feats = np.concatenate([np.zeros_like(a)] + [c / a for c in kinks] + [c / b for c in kinks], axis=-1)
        vals = []
        for z, w in _quad.two_rules(_quad.graded_breaks(feats, depth, L_1D), P_1D):
            u, v = a * z, b * z
            f = {0: (act._eval(u), act._eval(v)), 1: (act._eval(u, order=1), act._eval(v, order=1))}
            vals.append({(m, n): f[m][0] * f[n][1] * w for (m, n) in orders})
        for o in orders:
            fine = vals[1][o].sum(-1)
            out[o][i, j] = fine
            if err is not None:
                err[o][i, j] = _quad.estimate(vals[0][o].sum(-1), fine, np.abs(vals[1][o]).sum(-1))
