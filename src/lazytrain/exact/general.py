r"""Exact RF and NT population risks for any activation, Gaussian inputs.

This is the one exact RF/NT solver of lazytrain: :func:`lazy_risk` works
for every task and activation from the task's contract
(:class:`lazytrain.tasks.Task`): the input law ``task.components``, a mixture
of centred Gaussians Σ_k p_k N(0, Σ_k) (one component Σ = I for the
regression targets, two components I ± Δ for the Gaussian mixture), and the
cross moments ``task.cross_moments(W, activation)``. The best predictor of a linear class c + βᵀφ(x) has
risk R = Var(y) − vᵀ K⁺ v, with the centred Gram K = Cov φ and the cross
moments v = Cov(y, φ); the free offset c is what centring accounts for.
Everything below is a Gaussian expectation that the activation object
supplies (:meth:`Activation.moments`, :meth:`Activation.pair_moments`);
nothing here looks at the activation's name. See docs/theory.md,
"Any activation".

RF, φ_i = σ(u_i), u_i = ⟨w_i, x⟩: K is N×N, K_ij = Σ_k p_k E_k[σ(u_i)σ(u_j)] − m_i m_j.

NT, φ_i = x σ'(u_i) ∈ R^d: the Nd×Nd Gram is never formed. By Gaussian
integration by parts (x ~ N(0, Σ), ŵ = Σw) each d×d block is

    E[σ'(u_i)σ'(u_j) x xᵀ] = E[σ'_iσ'_j] Σ + E[σ'''_iσ'_j] ŵ_iŵ_iᵀ
                             + E[σ''_iσ''_j] (ŵ_iŵ_jᵀ + ŵ_jŵ_iᵀ) + E[σ'_iσ'''_j] ŵ_jŵ_jᵀ   (i ≠ j)
    E[σ'(u_i)² x xᵀ]        = E[σ'_i²] Σ + E[(σ'²)''(u_i)] ŵ_iŵ_iᵀ,

a multiple of Σ plus a part in span(ŵ_i, ŵ_j), so a matrix-vector product
costs three N×N×d matrix products. The normal equations are solved by
conjugate gradients (scipy) with a Kronecker preconditioner, or densely
for small problems. ``second_layer=True`` adds the features σ(u_i), with
cross blocks E[σ(u_j) x σ'(u_i)] = E[σ'_jσ'_i] ŵ_j + E[σ_jσ''_i] ŵ_i.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from .._validation import check_choice, check_neuron_variances, check_positive_float, check_positive_int
from ..activations import PARALLEL_TOL, Activation, MomentAccuracyError
from ..regimes import RF, CoefLayout, Regime, get_regime
from ..tasks.base import STANDARD, Component, Task  # noqa: F401  (Component, STANDARD: re-exported)
from ._linalg import psd_solve

#: Largest number of NT parameters (N·d, + N with the second layer) solved densely by 'auto'.
DENSE_MAX = 200
NT_METHODS = ("auto", "dense", "cg")
#: Default accuracy asked of an exact risk R/R0 (moment errors propagated through the solve).
RISK_TOL = 1e-6
ON_MISS = ("raise", "warn")


class SolverAccuracyError(ArithmeticError):
    """Conjugate gradients did not reach the requested relative residual (recomputed as ‖Kβ − v‖/‖v‖)."""


def variances(W: np.ndarray, component: Component = STANDARD[0]) -> np.ndarray:
    """q_i = w_iᵀ Σ w_i, the variance of u_i = ⟨w_i, x⟩ (must be > 0: no zero rows)."""
    return check_neuron_variances(np.einsum("ij,ij->i", component.push(W), W))


# ---------------------------------------------------------------- features (for tests and checks)
def rf_features(x: np.ndarray, W: np.ndarray, activation: Activation) -> np.ndarray:
    """RF features σ(⟨w_i, x⟩) for the rows of x: shape (n, N) (:meth:`lazytrain.regimes.RF.features`)."""
    return RF().features(np.asarray(x, dtype=np.float64), W, activation)


def nt_features(x: np.ndarray, W: np.ndarray, activation: Activation, second_layer: bool = False) -> np.ndarray:
    """NT features for the rows of x: x_k σ'(⟨w_i, x⟩), flattened i-major to shape (n, N·d).

    With ``second_layer=True`` the N columns σ(⟨w_i, x⟩) follow. These are
    the gradients of f(x) = Σ_i a_i σ(⟨w_i, x⟩) at a_i = 1 with respect to
    (W, a): the network's linearisation.
    """
    return get_regime("nt", second_layer=second_layer).features(np.asarray(x, dtype=np.float64), W, activation)


# ---------------------------------------------------------------- repeated neurons
def repeated_rows(W: np.ndarray):
    """(first, inverse, same): the first occurrence of each distinct row of W, the index into
    ``first`` of every row, and the N×N mask of pairs of identical rows (the diagonal included).

    A repeated neuron adds nothing to the RF or NT class (its features are copies), so the Gaussian
    pair moments are computed for the distinct rows only and a pair of copies takes the
    one-dimensional (diagonal) moment: the Gram of the repeat is exactly that of a copy, and the
    solvers (a pseudo-inverse, CG on a consistent system) give the risk without the repeat.
    """
    _, first, inverse = np.unique(W, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    return first, inverse, inverse[:, None] == inverse[None, :]


def pair_moments(activation: Activation, W: np.ndarray, comp: Component, orders):
    """Pair moments (value, error) of ``activation`` under one component, computed for the distinct
    rows of W and spread to the copies; and the mask of identical pairs, where the caller puts the
    one-dimensional moment (see :func:`repeated_rows`)."""
    first, inverse, same = repeated_rows(W)
    if any(max(o) >= 2 for o in orders) or any(gap == 0.0 for _, gap in nearly_parallel(W, (comp,))):
        check_not_parallel(activation, W, (comp,))
    cov = comp.pre_activation_cov(W[first])
    P, Pe = activation.pair_moments(cov, orders=orders, return_error=True)
    spread = np.ix_(inverse, inverse)
    return {o: m[spread] for o, m in P.items()}, {o: m[spread] for o, m in Pe.items()}, same


def nearly_parallel(W: np.ndarray, components=STANDARD, tol: float = PARALLEL_TOL):
    """Pairs (i, j), i < j, of distinct rows of W with |correlation| > 1 - ``tol`` under some
    component (the original row indices), and their 1 − |ρ|, closest first."""
    first, _, _ = repeated_rows(W)
    first = np.sort(first)
    out = {}
    for comp in components:
        cov = comp.pre_activation_cov(W[first])
        q = np.sqrt(np.diag(cov))
        gap = 1.0 - np.abs(cov) / np.outer(q, q)
        for a, b in zip(*np.nonzero(np.triu(gap < tol, 1))):
            key = (int(first[a]), int(first[b]))
            out[key] = min(out.get(key, np.inf), max(float(gap[a, b]), 0.0))
    return sorted(out.items(), key=lambda kv: kv[1])


def check_not_parallel(activation: Activation, W: np.ndarray, components=STANDARD) -> None:
    """Refuse distinct rows of W that are parallel to within :data:`PARALLEL_TOL` (w_j ≈ c w_i):
    the NT Gram's second-derivative moments are singular there (an exact repeat is fine: it is
    dropped, :func:`repeated_rows`)."""
    pairs = nearly_parallel(W, components)
    if pairs:
        (i, j), gap = pairs[0]
        raise ValueError(
            f"activation {activation.name!r}: rows {i} and {j} of W are parallel or nearly so "
            f"(1 − |correlation| = {gap:.3g} < {PARALLEL_TOL:g}; {len(pairs)} such pair(s)), but not "
            "equal: the Gaussian moments of their pair are singular there. An exact repeat of a row "
            "is dropped (it does not change the class); drop one of the two rows or move them apart")


def unresolved_pairs(K: np.ndarray, K_err: np.ndarray, same: np.ndarray, factor: float = 10.0):
    """Pairs (i, j), i < j, of features whose difference the Gram cannot resolve: the variance of
    φ_i − φ_j, K_ii + K_jj − 2K_ij, is below ``factor`` × its own error (the moments' errors plus
    rounding). Nearly parallel rows of W give such pairs: their difference lies along a direction
    of K whose eigenvalue (∝ the rows' distance²) is below the accuracy of K, so how much of the
    target it explains (anything up to Var y) is not determined. Pairs of repeated rows are exact
    copies and are not counted (see :func:`repeated_rows`)."""
    d = np.diag(K)
    de = np.diag(K_err)
    var = d[:, None] + d[None, :] - 2.0 * K
    err = de[:, None] + de[None, :] + 2.0 * K_err + 8 * np.finfo(float).eps * (np.abs(d)[:, None]
                                                                             + np.abs(d)[None, :])
    bad = np.triu(~same & ~(var > factor * err), 1)
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(bad))]


def refuse_unresolved(K: np.ndarray, W: np.ndarray, feature: str) -> np.ndarray:
    """K itself, or a ValueError when nearly parallel rows of W make a closed-form Gram K
    (exact up to rounding) unable to resolve the difference of two features (:func:`unresolved_pairs`)."""
    pairs = unresolved_pairs(K, np.zeros_like(K), repeated_rows(W)[2])
    if pairs:
        i, j = pairs[0]
        raise ValueError(f"rows {i} and {j} of W are nearly parallel: in float64 the RF Gram cannot "
                         f"resolve the difference of their features {feature} ({len(pairs)} such "
                         "pair(s)), so the risk is not determined; drop one row of each pair (an "
                         "exact repeat is fine: it does not change the class) or move them apart")
    return K


def put_same(M: np.ndarray, same: np.ndarray, values) -> np.ndarray:
    """M with M_ij = values_i on the pairs of identical rows (the diagonal and repeats)."""
    values = np.asarray(values, dtype=np.float64)
    M[same] = np.broadcast_to(values[:, None] if values.ndim else values, M.shape)[same]
    return M


# ---------------------------------------------------------------- RF
def rf_covariance(activation: Activation, W: np.ndarray, components=STANDARD, return_error: bool = False):
    """Centred RF Gram K (N×N) and feature means m (N,) under the input mixture.

    With ``return_error=True`` also entrywise error estimates of K and m,
    propagated from those of the Gaussian moments.
    """
    n = W.shape[0]
    second = np.zeros((n, n))
    second_err = np.zeros((n, n))
    mean = np.zeros(n)
    mean_err = np.zeros(n)
    for comp in components:
        mom, mom_err = activation.moments(variances(W, comp), return_error=True)
        P, Perr, same = pair_moments(activation, W, comp, [(0, 0)])
        E = put_same(P[(0, 0)], same, mom.second)
        Ee = put_same(Perr[(0, 0)], same, mom_err.second)
        second += comp.weight * E
        second_err += comp.weight * Ee
        mean += comp.weight * mom.mean
        mean_err += comp.weight * mom_err.mean
    K = second - np.outer(mean, mean)
    if not return_error:
        return K, mean
    K_err = second_err + np.outer(np.abs(mean), mean_err) + np.outer(mean_err, np.abs(mean))
    return K, mean, K_err, mean_err


def weight_norm_range(W: np.ndarray, components=STANDARD) -> tuple:
    """Smallest and largest √q_i over the components (for error messages)."""
    qs = np.concatenate([variances(W, c) for c in components])
    return float(np.sqrt(qs.min())), float(np.sqrt(qs.max()))


def check_risk_accuracy(activation, W, components, explained_err, r0, risk_tol, parts):
    """Raise :class:`MomentAccuracyError` when the propagated error of R/R0 exceeds ``risk_tol``.

    ``parts`` maps a moment's name to its contribution (same units as
    ``explained_err``); the largest is named in the message. Returns the bound on |δR|/R0.
    """
    risk_tol = check_positive_float("risk_tol", risk_tol)
    bound = explained_err / r0
    if not bound <= risk_tol:
        worst = max(parts, key=parts.get)
        close = nearly_parallel(W, components, tol=1e-6)
        near = (f"; rows {close[0][0][0]} and {close[0][0][1]} of W are nearly parallel "
                f"(1 − |correlation| = {close[0][1]:.3g}): drop one or move them apart" if close else "")
        raise MomentAccuracyError(
            activation.name, weight_norm_range(W, components), f"the risk R/R0 (dominated by {worst})",
            bound, risk_tol,
            hint="Either a moment is not resolved (a kink of σ that was not declared or detected, a "
                 "feature narrower than the quadrature: declare it, Activation.from_function(fn, "
                 "kinks=[...])), or the Gram matrix is too ill-conditioned for the accuracy of its "
                 f"moments (tiny weight norms: rescale W; nearly parallel rows{near}); or pass a "
                 "larger risk_tol",
        )
    return bound


def rf_explained(activation: Activation, W: np.ndarray, cross: np.ndarray, components=STANDARD, *,
                 cross_err=None, r0=None, risk_tol=RISK_TOL, info=None) -> float:
    """vᵀK⁺v: the variance of the target explained by the best RF predictor with an offset.

    With ``r0`` given, the moment errors are propagated to the risk:
    |δ(vᵀK⁺v)| ≤ 2‖β‖‖δv‖ + ‖β‖²‖δK‖_F with β = K⁺v, and a bound above
    ``risk_tol``·r0 raises :class:`MomentAccuracyError`.
    """
    K, _, K_err, _ = rf_covariance(activation, W, components, return_error=True)
    if r0 is not None and not float(np.linalg.norm(cross)) > 1e-12 * math.sqrt(max(r0 * np.trace(K), 0.0)):
        # v = 0 up to rounding (an odd σ against an even target; Cauchy-Schwarz: ‖v‖² ≤ Var y·Tr K)
        if info is not None:
            info["error_bound"], info["coef"] = 0.0, np.zeros_like(cross)
        return 0.0
    beta = psd_solve(K, cross)
    explained = float(cross @ beta)
    if r0 is not None:
        nb = float(np.linalg.norm(beta))
        ce = 0.0 if cross_err is None else float(np.linalg.norm(cross_err))
        parts = {"E σ(u_i)σ(u_j) (the Gram)": nb * nb * float(np.linalg.norm(K_err)),
                 "the cross moments Cov(y, σ(u_i))": 2 * nb * ce}
        pairs = unresolved_pairs(K, K_err, repeated_rows(W)[2])
        if pairs:
            # each such pair may explain anything up to Var y = r0 (Cauchy-Schwarz)
            i, j = pairs[0]
            parts[f"rows {i} and {j} of W, nearly parallel: the Gram cannot resolve σ(u_{i}) − σ(u_{j}) "
                  f"({len(pairs)} such pair(s); drop one row of each or move them apart)"] = r0 * len(pairs)
        bound = check_risk_accuracy(activation, W, components, sum(parts.values()), r0, risk_tol, parts)
        if info is not None:
            info["error_bound"] = bound
            info["coef"] = beta
    return explained


# ---------------------------------------------------------------- NT
class _ComponentBlocks:
    """Coefficient matrices of the NT Gram under one Gaussian component (see module docstring).

    Diagonals (and pairs of repeated rows, :func:`repeated_rows`) are set so that the i ≠ j
    formula also gives the i = j block:
    k0_ii = E σ'², A_ii = E[(σ'²)''], C_ii = D_ii = 0, S_ii = E[(σσ')'] − E σ'².
    """

    def __init__(self, activation, W, comp, second_layer):
        orders = [(1, 1), (2, 2), (3, 1)] + ([(0, 0), (2, 0)] if second_layer else [])
        P, Pe, same = pair_moments(activation, W, comp, orders)
        mom, me = activation.moments(variances(W, comp), return_error=True)
        self.p = comp.weight
        self.comp = comp
        self.What = comp.push(W)
        self.k0, self.k0_err = P[(1, 1)], Pe[(1, 1)]
        put_same(self.k0, same, mom.d_second)
        put_same(self.k0_err, same, me.d_second)
        self.A, self.A_err = P[(3, 1)], Pe[(3, 1)]
        put_same(self.A, same, mom.d_second_curv)
        put_same(self.A_err, same, me.d_second_curv)
        self.C, self.C_err = P[(2, 2)], Pe[(2, 2)]
        put_same(self.C, same, 0.0)
        put_same(self.C_err, same, 0.0)
        self.D, self.D_err = P[(3, 1)].T.copy(), Pe[(3, 1)].T.copy()
        put_same(self.D, same, 0.0)
        put_same(self.D_err, same, 0.0)
        self.mu, self.mu_err = mom.d2_mean, me.d2_mean
        self.mean_vec = self.mu[:, None] * self.What  # E[x σ'(u_i)] = E[σ''(u_i)] ŵ_i
        self.diag_scale = mom.d_second  # block_ii = E σ_i'² Σ + E[(σ'²)''] ŵ_iŵ_iᵀ
        self.diag_rank1 = mom.d_second_curv
        if second_layer:
            self.R, self.R_err = P[(0, 0)], Pe[(0, 0)]
            put_same(self.R, same, mom.second)
            put_same(self.R_err, same, me.second)
            self.S, self.S_err = P[(2, 0)], Pe[(2, 0)]
            put_same(self.S, same, mom.cross_grad - mom.d_second)
            put_same(self.S_err, same, me.cross_grad + me.d_second)
            self.mean_sc, self.mean_sc_err = mom.mean, me.mean
        for name in ("k0", "A", "C", "D") + (("R", "S") if second_layer else ()):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(
                    f"activation {activation.name!r}: the NT Gram has non-finite Gaussian moments "
                    "(parallel or zero rows of W?)"
                )

    def error_parts(self, second_layer):
        """Bounds on the Frobenius norm of this component's Gram error, per moment.

        Block (i, j) errs by at most δk0_ij‖Σ‖_F + δA_ij‖ŵ_i‖² + 2δC_ij‖ŵ_i‖‖ŵ_j‖ + δD_ij‖ŵ_j‖².
        """
        d = self.What.shape[1]
        sig = self.comp.cov_frobenius(d)
        wn = np.linalg.norm(self.What, axis=1)
        parts = {
            "E σ'(u_i)σ'(u_j)": np.linalg.norm(self.k0_err) * sig,
            "E σ⁽³⁾(u_i)σ'(u_j)": np.linalg.norm(self.A_err * (wn**2)[:, None] + self.D_err * (wn**2)[None, :]),
            "E σ''(u_i)σ''(u_j)": 2 * np.linalg.norm(self.C_err * np.outer(wn, wn)),
            "E σ''(u)": 2 * np.linalg.norm(self.mean_vec) * np.linalg.norm(self.mu_err * wn),
        }
        if second_layer:
            parts["E σ(u_i)σ(u_j)"] = np.linalg.norm(self.R_err)
            parts["E σ''(u_i)σ(u_j)"] = 2 * (np.linalg.norm(self.k0_err * wn[None, :])
                                             + np.linalg.norm(self.S_err * wn[:, None]))
            parts["E σ(u)"] = 2 * np.linalg.norm(self.mean_sc) * np.linalg.norm(self.mean_sc_err)
        return {k: self.p * float(v) for k, v in parts.items()}

    def apply(self, Bm, a):
        """(Gram @ [β; a]) for this component, uncentred."""
        What = self.What
        X = What @ Bm.T  # X_ij = ŵ_i·β_j
        xd = np.diag(X).copy()
        k0B = self.k0 @ Bm
        out = self.comp.apply(k0B)
        coef = (self.A * X).sum(axis=1) + self.C @ xd
        M = self.C * X + self.D * xd[None, :]
        if a is not None:
            M = M + self.k0 * a[None, :]
            coef = coef + self.S @ a
        out = out + coef[:, None] * What + M @ What
        if a is None:
            return out, None
        sc = (self.k0 * X).sum(axis=1) + self.S.T @ xd + self.R @ a
        return out, sc


class NTGram(scipy.sparse.linalg.LinearOperator):
    """The centred NT Gram Cov φ as a matrix-free operator on [vec(β) (N·d); a (N, optional)].

    Parameters
    ----------
    activation : Activation
    W : array of shape (N, d)
    components : sequence of Component
        The input law; default a single standard Gaussian.
    second_layer : bool
        Add the N features σ(⟨w_i, x⟩) after the N·d tangent features.

    Notes
    -----
    One product costs O(N²d) (three N×N×d matrix products per component).
    """

    def __init__(self, activation, W, components=STANDARD, second_layer=False):
        self.N, self.d = W.shape
        self.second_layer = bool(second_layer)
        self.layout = CoefLayout(self.N, self.d, tangent=True, scalar=self.second_layer)
        self.blocks = [_ComponentBlocks(activation, W, c, self.second_layer) for c in components]
        self.mean_vec = sum(b.p * b.mean_vec for b in self.blocks)
        self.mean_sc = sum(b.p * b.mean_sc for b in self.blocks) if self.second_layer else None
        size = self.N * self.d + (self.N if self.second_layer else 0)
        super().__init__(dtype=np.float64, shape=(size, size))

    def _split(self, v):
        return self.layout.split(v)

    def _matvec(self, v):
        v = np.asarray(v, dtype=np.float64).ravel()
        Bm, a = self._split(v)
        out_vec = np.zeros((self.N, self.d))
        out_sc = np.zeros(self.N) if self.second_layer else None
        for b in self.blocks:
            ov, osc = b.apply(Bm, a)
            out_vec += b.p * ov
            if osc is not None:
                out_sc += b.p * osc
        # centring: subtract m (mᵀv)
        mv = float(np.sum(self.mean_vec * Bm)) + (float(self.mean_sc @ a) if a is not None else 0.0)
        out_vec -= mv * self.mean_vec
        if a is None:
            return out_vec.ravel()
        return np.concatenate([out_vec.ravel(), out_sc - mv * self.mean_sc])

    def _rmatvec(self, v):
        return self._matvec(v)

    def error_parts(self) -> dict:
        """Bounds on ‖δK‖_F from the moments' error estimates, per moment (summed over components)."""
        parts = {}
        for b in self.blocks:
            for k, v in b.error_parts(self.second_layer).items():
                parts[k] = parts.get(k, 0.0) + v
        return parts

    def trace(self) -> float:
        """Tr K = Σ_i tr(block_ii) (+ Σ_i Var σ(u_i)), in O(Nd)."""
        total = -float(np.sum(self.mean_vec**2))
        for b in self.blocks:
            tr_sigma = b.comp.cov_trace(self.d)
            wn2 = np.einsum("ij,ij->i", b.What, b.What)
            total += b.p * float(np.sum(b.diag_scale * tr_sigma + b.diag_rank1 * wn2))
            if self.second_layer:
                total += b.p * float(np.sum(np.diag(b.R)))
        if self.second_layer:
            total -= float(np.sum(self.mean_sc**2))
        return total

    def dense(self) -> np.ndarray:
        """The full matrix, assembled from the same coefficients (small problems and tests)."""
        N, d = self.N, self.d
        nd = N * d
        out = np.zeros(self.shape)
        for b in self.blocks:
            Sig = b.comp.cov_matrix(d)
            Wh = b.What
            T = np.einsum("ij,ab->iajb", b.k0, Sig)
            T += np.einsum("ij,ia,ib->iajb", b.A, Wh, Wh)
            T += np.einsum("ij,ia,jb->iajb", b.C, Wh, Wh) + np.einsum("ij,ja,ib->iajb", b.C, Wh, Wh)
            T += np.einsum("ij,ja,jb->iajb", b.D, Wh, Wh)
            out[:nd, :nd] += b.p * T.reshape(nd, nd)
            if self.second_layer:
                # rows (i, a), column j: E[x_a σ'(u_i) σ(u_j)] = k0_ij ŵ_ja + S_ij ŵ_ia
                cross = np.einsum("ij,ja->iaj", b.k0, Wh) + np.einsum("ij,ia->iaj", b.S, Wh)
                out[:nd, nd:] += b.p * cross.reshape(nd, N)
                out[nd:, :nd] += b.p * cross.reshape(nd, N).T
                out[nd:, nd:] += b.p * b.R
        m = self.mean_vec.ravel() if not self.second_layer else np.concatenate([self.mean_vec.ravel(), self.mean_sc])
        out -= np.outer(m, m)
        return (out + out.T) / 2

    def dense_by_products(self) -> np.ndarray:
        """The full matrix as the operator applied to each unit vector (to test the product)."""
        n = self.shape[0]
        return np.column_stack([self._matvec(e) for e in np.eye(n)])

    def kronecker_preconditioner(self, floor=1e-6) -> scipy.sparse.linalg.LinearOperator:
        """Inverse of the dominant part k̄0 ⊗ I of the Gram, k̄0 = Σ_k p_k E_k[σ'(u_i)σ'(u_j)].

        Each block is k0_ij Σ plus a part in span(ŵ_i, ŵ_j); the first term
        carries the spread of the spectrum (for ReLU k0 ≈ 11ᵀ/4 + I/4 gives d
        eigenvalues near N/4 against a bulk near 1/4), so (k̄0)⁻¹ ⊗ I cuts the
        CG iterations by 2-3× at d = N = 450. k̄0 is factorised once
        (eigenvalues floored at ``floor``·max, since k0 can be singular, e.g.
        rank d for the quadratic activation). With the second layer, the
        scalar features get the inverse of their own (RF) Gram.
        """
        def floored_inverse(M):
            lam, U = scipy.linalg.eigh(M, check_finite=False)
            lam = np.maximum(lam, floor * max(lam[-1], np.finfo(float).tiny))
            return (U / lam) @ U.T

        inv = floored_inverse(sum(b.p * b.k0 for b in self.blocks))
        if self.second_layer:
            inv_rf = floored_inverse(sum(b.p * b.R for b in self.blocks) - np.outer(self.mean_sc, self.mean_sc))

        def apply(v):
            v = np.asarray(v, dtype=np.float64).ravel()
            Bm, a = self._split(v)
            out = (inv @ Bm).ravel()
            return out if a is None else np.concatenate([out, inv_rf @ a])

        return scipy.sparse.linalg.LinearOperator(self.shape, matvec=apply, dtype=np.float64)


def population_gram(layout: CoefLayout, activation, W, components=STANDARD):
    """The centred population Gram K = Cov φ of a regime's features and their mean m, in the layout's order.

    Built block by block from the layout: the σ block alone (RF) is the dense N×N Gram of
    :func:`rf_covariance`; with the tangent block, the matrix-free :class:`NTGram` (the σ block
    after it when the layout has both). Returns (K, m): K has ``K @ β`` (a dense array or a
    LinearOperator), m is flat.
    """
    if layout.tangent:
        K = NTGram(activation, W, components, second_layer=layout.scalar)
        return K, layout.join(K.mean_vec, K.mean_sc)
    return rf_covariance(activation, W, components)


@dataclass
class NTSolution:
    """Result of an NT solve: explained variance vᵀK⁺v, the coefficients β = K⁺v, and how."""

    explained: float
    coef: np.ndarray
    method: str
    iterations: int
    relative_residual: float
    seconds: float
    error_bound: float | None = None


def nt_explained(activation, W, cross_vec, cross_sc=None, components=STANDARD, *, second_layer=False,
                 method="auto", tol=1e-10, maxiter=None, target_var=None,
                 precondition=True, cross_err=None, risk_tol=RISK_TOL, on_miss="raise") -> NTSolution:
    """Solve the NT normal equations K β = v and return vᵀβ (the explained variance).

    Parameters
    ----------
    activation : Activation
    W : array of shape (N, d)
    cross_vec : array of shape (N, d)
        v_i = Cov(y, x σ'(u_i)).
    cross_sc : array of shape (N,), optional
        Cov(y, σ(u_i)); required with ``second_layer=True``.
    components : sequence of Component
    second_layer : bool
    method : {'auto', 'dense', 'cg'}
        'dense' forms the Gram and uses a pseudo-inverse; 'cg' runs
        conjugate gradients; 'auto' is dense up to 200 parameters.
    tol : float
        CG stops when ‖Kβ − v‖ ≤ tol‖v‖ (relative residual). The explained
        variance vᵀβ then errs by at most rᵀK⁺r ≤ tol²‖v‖²/λ_min(K). After
        CG the residual is recomputed from K and β (scipy's recursively
        updated one drifts when K is ill-conditioned); if it misses tol, CG
        is restarted once from β, and a second miss raises
        :class:`SolverAccuracyError` (or warns, ``on_miss='warn'``).
    maxiter : int, optional
        CG iteration cap (default 10·(N + d) + 100).
    precondition : bool, default True
        Use the Kronecker preconditioner (k̄0)⁻¹ ⊗ I in CG (see
        :meth:`NTGram.kronecker_preconditioner`).
    target_var : float, optional
        Var(y) (R0). By Cauchy-Schwarz ‖v‖² ≤ Var(y)·Tr K; when ‖v‖ is below
        1e-12 of that bound (an odd σ against an even target, where v = 0 up
        to rounding) the explained variance is 0 and no solve is run. When
        given, the moments' error estimates are propagated to the risk,
        |δ(vᵀβ)| ≤ 2‖β‖‖δv‖ + ‖β‖²‖δK‖_F, and a bound above
        ``risk_tol``·Var(y) raises :class:`MomentAccuracyError`.
    cross_err : array, optional
        Error estimates of the cross moments [v_vec; v_sc].
    risk_tol : float, default 1e-6
        Accuracy asked of R/R0.
    on_miss : {'raise', 'warn'}
        What a CG residual above tol does.
    """
    method = check_choice("method", method, NT_METHODS)
    on_miss = check_choice("on_miss", on_miss, ON_MISS)
    tol = check_positive_float("tol", tol)
    start = time.perf_counter()
    K = NTGram(activation, W, components, second_layer)
    v = cross_vec.ravel()
    if second_layer:
        v = np.concatenate([v, cross_sc])
    if method == "auto":
        method = "dense" if K.shape[0] <= DENSE_MAX else "cg"
    vnorm = float(np.linalg.norm(v))
    bound = math.sqrt(max(target_var * K.trace(), 0.0)) if target_var is not None else 0.0
    if vnorm <= 1e-12 * bound or vnorm == 0.0:
        return NTSolution(0.0, np.zeros_like(v), method, 0, 0.0, time.perf_counter() - start, 0.0)
    if method == "dense":
        beta = psd_solve(K.dense(), v)
        sol = NTSolution(float(v @ beta), beta, "dense", 0, 0.0, time.perf_counter() - start)
    else:
        sol = _nt_cg(K, v, vnorm, W, tol, maxiter, precondition, on_miss, start)
    if target_var is not None:
        nb = float(np.linalg.norm(sol.coef))
        parts = {k: nb * nb * e for k, e in K.error_parts().items()}
        ce = 0.0 if cross_err is None else float(np.linalg.norm(cross_err))
        parts["the cross moments Cov(y, φ)"] = 2 * nb * ce
        sol.error_bound = check_risk_accuracy(activation, W, components, sum(parts.values()), target_var,
                                              risk_tol, parts)
    return sol


def _nt_cg(K, v, vnorm, W, tol, maxiter, precondition, on_miss, start) -> NTSolution:
    """Preconditioned CG, the residual recomputed and checked (one restart, then raise or warn)."""
    N, d = W.shape
    maxiter = 10 * (N + d) + 100 if maxiter is None else check_positive_int("maxiter", maxiter)
    count = [0]

    def callback(_):
        count[0] += 1

    M = K.kronecker_preconditioner() if precondition else None
    beta, info = scipy.sparse.linalg.cg(K, v, rtol=tol, atol=0.0, maxiter=maxiter, M=M, callback=callback)
    resid = float(np.linalg.norm(K.matvec(beta) - v) / vnorm)
    if resid > tol and info == 0:
        # scipy's recursively updated residual claimed convergence: restart from β
        beta, info = scipy.sparse.linalg.cg(K, v, x0=beta, rtol=tol, atol=0.0, maxiter=maxiter, M=M,
                                            callback=callback)
        resid = float(np.linalg.norm(K.matvec(beta) - v) / vnorm)
    if resid > tol:
        msg = (f"NT conjugate gradients stopped after {count[0]} iterations at relative residual "
               f"{resid:.2e} (recomputed ‖Kβ − v‖/‖v‖) > tol = {tol:g}; raise maxiter or tol, or use "
               "method='dense' for small problems")
        if on_miss == "raise":
            raise SolverAccuracyError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)
    return NTSolution(float(v @ beta), beta, "cg", count[0], resid, time.perf_counter() - start)


# ---------------------------------------------------------------- the solver
@dataclass
class LazySolution(NTSolution):
    """Best RF or NT predictor: an :class:`NTSolution` (the same fields for RF) and its risk R/R0.

    ``coef`` has shape (N,) for RF and (N·d,) (+ N with the second layer,
    i-major as :func:`nt_features`) for NT; ``error_bound`` bounds |δR|/R0 propagated from
    the moments' error estimates.
    """

    risk: float = field(kw_only=True)


def lazy_solution(task, regime: str | Regime, W: np.ndarray, activation: Activation, *, second_layer=False,
                  method="auto", tol=1e-10, maxiter=None, risk_tol=RISK_TOL, on_miss="raise") -> LazySolution:
    """The best RF ('rf') or NT ('nt') predictor of any task, for weights W and any activation.

    Uses only ``task.components``, ``task.cross_moments(W, activation)`` and
    ``task.r0``; R/R0 = 1 − vᵀK⁺v / R0 (clipped to [0, 1]). The moments'
    error estimates (and ``task.cross_moment_errors`` where the task has it)
    are propagated to the risk; a bound above ``risk_tol`` raises
    :class:`~lazytrain.MomentAccuracyError` (see :func:`nt_explained`).
    """
    regime = get_regime(regime, second_layer=second_layer)
    if not regime.linear:
        raise ValueError(f"regime must be 'rf' or 'nt' for the lazy solver, got {regime.name!r}")
    layout = regime.layout(*W.shape)
    comps = task.components
    for comp in comps:
        variances(W, comp)  # a ValueError naming a zero row before any moment is computed
    cross = regime.cross_moments(task, W, activation)
    err = regime.cross_moments(task, W, activation, errors=True)
    if layout.tangent:  # the tangent block's matrix-free Gram (the σ block after it with the second layer)
        nt_cross, rf_cross = layout.split(cross)
        sol = nt_explained(activation, W, nt_cross, rf_cross, comps, second_layer=layout.scalar,
                           method=method, tol=tol, maxiter=maxiter, target_var=task.r0, cross_err=err,
                           risk_tol=risk_tol, on_miss=on_miss)
    else:               # the σ block alone: the N×N Gram
        start = time.perf_counter()
        info = {}
        explained = rf_explained(activation, W, cross, comps, cross_err=err, r0=task.r0,
                                 risk_tol=risk_tol, info=info)
        sol = NTSolution(explained, info["coef"], "dense", 0, 0.0, time.perf_counter() - start,
                         info["error_bound"])
    risk = float(np.clip(1.0 - sol.explained / task.r0, 0.0, 1.0))
    return LazySolution(**vars(sol), risk=risk)


def lazy_risk(task, regime, W, activation, *, info=None, **options) -> float:
    """R/R0 of :func:`lazy_solution`; ``info`` (a dict) receives the solve's method, iterations, residual, seconds."""
    sol = lazy_solution(task, regime, W, activation, **options)
    if info is not None:
        info.update({k: v for k, v in vars(sol).items() if k not in ("coef", "risk")})
    return sol.risk


# ---------------------------------------------------------------- binary labels (Gaussian mixture)
def class_means(activation, W, component: Component):
    """E[σ(u_i)] (N,) and E[x σ'(u_i)] = E[σ''(u_i)] Σw_i (N, d) under one Gaussian class."""
    return component.feature_means(W, activation)
