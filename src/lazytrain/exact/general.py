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
from ..activations import Activation, MomentAccuracyError
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
    """RF features σ(⟨w_i, x⟩) for the rows of x: shape (n, N)."""
    return activation.fn(np.asarray(x, dtype=np.float64) @ W.T)


def nt_features(x: np.ndarray, W: np.ndarray, activation: Activation, second_layer: bool = False) -> np.ndarray:
    """NT features for the rows of x: x_k σ'(⟨w_i, x⟩), flattened i-major to shape (n, N·d).

    With ``second_layer=True`` the N columns σ(⟨w_i, x⟩) follow. These are
    the gradients of f(x) = Σ_i a_i σ(⟨w_i, x⟩) at a_i = 1 with respect to
    (W, a): the network's linearisation.
    """
    x = np.asarray(x, dtype=np.float64)
    u = x @ W.T
    F = (activation.derivative(u)[:, :, None] * x[:, None, :]).reshape(len(x), -1)
    return np.column_stack([F, activation.fn(u)]) if second_layer else F


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
        cov = comp.pre_activation_cov(W)
        mom, mom_err = activation.moments(np.diag(cov), return_error=True)
        P, Perr = activation.pair_moments(cov, orders=[(0, 0)], return_error=True)
        E, Ee = P[(0, 0)], Perr[(0, 0)]
        np.fill_diagonal(E, mom.second)
        np.fill_diagonal(Ee, mom_err.second)
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
        raise MomentAccuracyError(
            activation.name, weight_norm_range(W, components), f"the risk R/R0 (dominated by {worst})",
            bound, risk_tol,
            hint="Either a moment is not resolved (a kink of σ that was not declared or detected, a "
                 "feature narrower than the quadrature: declare it, Activation.from_function(fn, "
                 "kinks=[...])), or the Gram matrix is too ill-conditioned for the accuracy of its "
                 "moments (tiny weight norms, nearly parallel rows: rescale W); or pass a larger risk_tol",
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
    beta = psd_solve(K, cross)
    explained = float(cross @ beta)
    if r0 is not None:
        nb = float(np.linalg.norm(beta))
        ce = 0.0 if cross_err is None else float(np.linalg.norm(cross_err))
        parts = {"E σ(u_i)σ(u_j) (the Gram)": nb * nb * float(np.linalg.norm(K_err)),
                 "the cross moments Cov(y, σ(u_i))": 2 * nb * ce}
        bound = check_risk_accuracy(activation, W, components, sum(parts.values()), r0, risk_tol, parts)
        if info is not None:
            info["error_bound"] = bound
            info["coef"] = beta
    return explained


# ---------------------------------------------------------------- NT
class _ComponentBlocks:
    """Coefficient matrices of the NT Gram under one Gaussian component (see module docstring).

    Diagonals are set so that the i ≠ j formula also gives the i = j block:
    k0_ii = E σ'², A_ii = E[(σ'²)''], C_ii = D_ii = 0, S_ii = E[(σσ')'] − E σ'².
    """

    def __init__(self, activation, W, comp, second_layer):
        cov = comp.pre_activation_cov(W)
        q = np.diag(cov).copy()
        orders = [(1, 1), (2, 2), (3, 1)] + ([(0, 0), (2, 0)] if second_layer else [])
        P, Pe = activation.pair_moments(cov, orders=orders, return_error=True)
        mom, me = activation.moments(q, return_error=True)
        self.p = comp.weight
        self.comp = comp
        self.What = comp.push(W)
        self.k0, self.k0_err = P[(1, 1)], Pe[(1, 1)]
        np.fill_diagonal(self.k0, mom.d_second)
        np.fill_diagonal(self.k0_err, me.d_second)
        self.A, self.A_err = P[(3, 1)], Pe[(3, 1)]
        np.fill_diagonal(self.A, mom.d_second_curv)
        np.fill_diagonal(self.A_err, me.d_second_curv)
        self.C, self.C_err = P[(2, 2)], Pe[(2, 2)]
        np.fill_diagonal(self.C, 0.0)
        np.fill_diagonal(self.C_err, 0.0)
        self.D, self.D_err = P[(3, 1)].T.copy(), Pe[(3, 1)].T.copy()
        np.fill_diagonal(self.D, 0.0)
        np.fill_diagonal(self.D_err, 0.0)
        self.mu, self.mu_err = mom.d2_mean, me.d2_mean
        self.mean_vec = self.mu[:, None] * self.What  # E[x σ'(u_i)] = E[σ''(u_i)] ŵ_i
        self.diag_scale = mom.d_second  # block_ii = E σ_i'² Σ + E[(σ'²)''] ŵ_iŵ_iᵀ
        self.diag_rank1 = mom.d_second_curv
        if second_layer:
            self.R, self.R_err = P[(0, 0)], Pe[(0, 0)]
            np.fill_diagonal(self.R, mom.second)
            np.fill_diagonal(self.R_err, me.second)
            self.S, self.S_err = P[(2, 0)], Pe[(2, 0)]
            np.fill_diagonal(self.S, mom.cross_grad - mom.d_second)
            np.fill_diagonal(self.S_err, me.cross_grad + me.d_second)
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
        self.blocks = [_ComponentBlocks(activation, W, c, self.second_layer) for c in components]
        self.mean_vec = sum(b.p * b.mean_vec for b in self.blocks)
        self.mean_sc = sum(b.p * b.mean_sc for b in self.blocks) if self.second_layer else None
        size = self.N * self.d + (self.N if self.second_layer else 0)
        super().__init__(dtype=np.float64, shape=(size, size))

    def _split(self, v):
        nd = self.N * self.d
        Bm = v[:nd].reshape(self.N, self.d)
        return Bm, (v[nd:] if self.second_layer else None)

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


def lazy_solution(task, regime: str, W: np.ndarray, activation: Activation, *, second_layer=False,
                  method="auto", tol=1e-10, maxiter=None, risk_tol=RISK_TOL, on_miss="raise") -> LazySolution:
    """The best RF ('rf') or NT ('nt') predictor of any task, for weights W and any activation.

    Uses only ``task.components``, ``task.cross_moments(W, activation)`` and
    ``task.r0``; R/R0 = 1 − vᵀK⁺v / R0 (clipped to [0, 1]). The moments'
    error estimates (and ``task.cross_moment_errors`` where the task has it)
    are propagated to the risk; a bound above ``risk_tol`` raises
    :class:`~lazytrain.MomentAccuracyError` (see :func:`nt_explained`).
    """
    comps = task.components
    for comp in comps:
        variances(W, comp)  # a ValueError naming a zero row before any moment is computed
    rf_cross, nt_cross = task.cross_moments(W, activation)
    errors = getattr(task, "cross_moment_errors", lambda W, act: None)(W, activation)
    rf_err, nt_err = (None, None) if errors is None else errors
    if regime == "rf":
        start = time.perf_counter()
        info = {}
        explained = rf_explained(activation, W, rf_cross, comps, cross_err=rf_err, r0=task.r0,
                                 risk_tol=risk_tol, info=info)
        sol = NTSolution(explained, info["coef"], "dense", 0, 0.0, time.perf_counter() - start,
                         info["error_bound"])
    elif regime == "nt":
        err = nt_err
        if err is not None and second_layer:
            err = np.concatenate([nt_err.ravel(), rf_err])
        sol = nt_explained(activation, W, nt_cross, rf_cross, comps, second_layer=second_layer,
                           method=method, tol=tol, maxiter=maxiter, target_var=task.r0, cross_err=err,
                           risk_tol=risk_tol, on_miss=on_miss)
    else:
        raise ValueError(f"regime must be 'rf' or 'nt' for the lazy solver, got {regime!r}")
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


class _TwoClasses(Task):
    """y = ±1 with probability ½, x | y = ±1 ~ N(0, cov_pos / cov_neg): the moments only (no sampler)."""

    kind = "binary"
    r0 = 1.0

    def __init__(self, cov_pos, cov_neg):
        self._components = (Component(0.5, np.asarray(cov_pos, dtype=np.float64)),
                            Component(0.5, np.asarray(cov_neg, dtype=np.float64)))
        self.d = self._components[0].cov.shape[0]

    @property
    def components(self):
        return self._components

    def cross_moments(self, W, activation):
        (rf_p, nt_p), (rf_n, nt_n) = (class_means(activation, W, comp) for comp in self.components)
        return (rf_p - rf_n) / 2, (nt_p - nt_n) / 2

    def cross_moment_errors(self, W, activation):
        (rf_p, nt_p), (rf_n, nt_n) = (comp.feature_mean_errors(W, activation) for comp in self.components)
        return (rf_p + rf_n) / 2, (nt_p + nt_n) / 2

    def _draw(self, ops, n):
        raise NotImplementedError("binary_label_risk's classes are not sampled")


def binary_label_risk(activation, regime, W, cov_pos, cov_neg, *, info=None, **options) -> float:
    """R/R0 of the best RF or NT predictor of a ±1 label, y = ±1 with probability ½ each,
    x | y = ±1 ~ N(0, cov_pos / cov_neg).

    R0 = Var y = 1. The features' Gram is the average of the two classes' Gram
    matrices, centred by the overall mean, and the cross moments are the
    half-differences of the class means: Cov(y, φ) = ½(E₊φ − E₋φ). This is
    :func:`lazy_risk` for that law (``GaussianMixture`` is the case I ± Δ).
    """
    return lazy_risk(_TwoClasses(cov_pos, cov_neg), regime, W, activation, info=info, **options)
