r"""Hermite ridge targets f*(x) = Σ_j Σ_ℓ c_jℓ He_ℓ(⟨u_j, x⟩), x ~ N(0, I_d).

He_ℓ are the probabilists' Hermite polynomials (He₁ = t, He₂ = t² − 1,
He₃ = t³ − 3t, ...). For unit vectors u, v and x ~ N(0, I),
E[He_ℓ(⟨u,x⟩) He_m(⟨v,x⟩)] = δ_ℓm ℓ! ⟨u,v⟩^ℓ, so the degrees are orthogonal
and every moment the solvers need is a finite sum (docs/theory.md,
"Hermite ridge targets").
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_finite_matrix, check_positive_int
from .base import Task

#: Highest Hermite degree a HermiteTarget accepts.
MAX_DEGREE = 6
#: Tolerance on | ‖u_j‖ − 1 | for the rows of ``directions``.
NORM_TOL = 1e-8


def hermite_he(t, degree: int) -> list:
    """[He_0(t), ..., He_degree(t)] by He_{ℓ+1} = t He_ℓ − ℓ He_{ℓ−1} (numpy arrays or torch tensors)."""
    out = [t * 0 + 1, t]
    for ell in range(1, degree):
        out.append(t * out[ell] - ell * out[ell - 1])
    return out[: degree + 1]


def _as_2d(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 2-D array of numbers, got {type(value).__name__}") from None
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        j, col = (int(i) for i in bad[0])
        raise ValueError(f"{name} must be finite, got {arr[j, col]} at [{j}, {col}] "
                         f"({len(bad)} non-finite entries)")
    return arr


class HermiteTarget(Task):
    r"""Ridge target f*(x) = Σ_{j=1..k} Σ_{ℓ=1..L} coefficients[j, ℓ−1] He_ℓ(⟨u_j, x⟩), x ~ N(0, I_d).

    Parameters
    ----------
    directions : array_like of shape (k, d)
        Rows u_j of unit norm (to 1e-8); they need not be orthogonal.
    coefficients : array_like of shape (k, L), 1 ≤ L ≤ 6
        coefficients[j, ℓ−1] multiplies He_ℓ(⟨u_j, x⟩). Degree 0 is left out:
        every model has a free offset.

    Notes
    -----
    E f* = 0 and, with G = UUᵀ the Gram matrix of the directions,
    R0 = Var f* = Σ_ℓ ℓ! c_ℓᵀ G^{∘ℓ} c_ℓ (c_ℓ the column of degree ℓ, G^{∘ℓ}
    the entrywise power), exactly. :meth:`degree_shares` splits R0 by degree.

    Raises
    ------
    ValueError
        ``directions`` not 2-D, not finite or with a row not of unit norm (the
        row is named); ``coefficients`` not of shape (k, L), with a NaN/inf
        entry (named), or of degree L above 6; a target that is constant.

    Examples
    --------
    >>> import numpy as np
    >>> task = HermiteTarget(np.eye(2, 5), [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    >>> task.r0, task.degree_shares()
    (9.0, {1: 0.1111111111111111, 2: 0.2222222222222222, 3: 0.6666666666666666})
    """

    kind = "hermite"

    def __init__(self, directions, coefficients):
        U = _as_2d("directions", directions)
        norms = np.linalg.norm(U, axis=1)
        off = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOL)
        if len(off):
            j = int(off[0])
            raise ValueError(f"directions: row {j} has norm {norms[j]:.12g}; every row u_j must have unit "
                             f"norm (to {NORM_TOL:g}), {len(off)} of {len(U)} rows do not")
        C = _as_2d("coefficients", coefficients)
        if C.shape[0] != U.shape[0]:
            raise ValueError(f"coefficients must have one row per direction, shape ({U.shape[0]}, L), "
                             f"got shape {C.shape}")
        if C.shape[1] > MAX_DEGREE:
            raise ValueError(f"coefficients has {C.shape[1]} columns, i.e. degree L = {C.shape[1]}; the "
                             f"highest degree allowed is {MAX_DEGREE} (columns are degrees 1..L)")
        self.directions = U
        self.coefficients = C
        self.k, self.d = U.shape
        self.degree = C.shape[1]
        self.gram = U @ U.T
        var = self.degree_variances()
        scale = sum(math.factorial(ell) * float(np.sum(np.abs(C[:, ell - 1])) ** 2)
                    for ell in range(1, self.degree + 1))
        if not var.sum() > 1e-14 * scale:
            raise ValueError("coefficients: the target is constant (Var f* = 0); give a nonzero coefficient "
                             "(terms along parallel directions may cancel)")

    # ------------------------------------------------------------------ moments
    def degree_variances(self) -> np.ndarray:
        """Var of the degree-ℓ part, ℓ = 1..L: ℓ! c_ℓᵀ G^{∘ℓ} c_ℓ (shape (L,))."""
        return np.array([math.factorial(ell) * float(c @ (self.gram**ell) @ c)
                         for ell, c in enumerate(self.coefficients.T, start=1)])

    @property
    def r0(self) -> float:
        """R0 = Var f* = Σ_ℓ ℓ! c_ℓᵀ G^{∘ℓ} c_ℓ, exactly."""
        return float(self.degree_variances().sum())

    def degree_shares(self) -> dict:
        """Fraction of R0 carried by each degree: {ℓ: Var(degree-ℓ part)/R0, ℓ = 1..L}; sums to 1.

        Degrees are orthogonal in L²(N(0, I)), so the shares add up; cross
        terms between directions enter through ⟨u_j, u_j'⟩^ℓ.
        """
        var = self.degree_variances()
        return {ell: float(v / var.sum()) for ell, v in enumerate(var, start=1)}

    @property
    def quadratic_part(self) -> np.ndarray:
        """B₂ = Σ_j c_j2 u_j u_jᵀ: the degree-2 part of f* is xᵀB₂x − Tr B₂."""
        if self.degree < 2:
            return np.zeros((self.d, self.d))
        return (self.directions.T * self.coefficients[:, 1]) @ self.directions

    # ------------------------------------------------------------------ sampling
    def target(self, x) -> np.ndarray:
        """f*(x) for the rows of x (shape (n, d))."""
        x = np.asarray(x, dtype=np.float64)
        return self._label(x @ self.directions.T, self.coefficients)

    def _label(self, t, C):
        """Σ_ℓ He_ℓ(t) C[:, ℓ−1] for projections t = x Uᵀ (numpy or torch)."""
        he = hermite_he(t, self.degree)
        y = he[1] @ C[:, 0]
        for ell in range(2, self.degree + 1):
            y = y + he[ell] @ C[:, ell - 1]
        return y

    def _draw(self, ops, n):
        x = ops.normal(n, self.d)
        return x, self._labels(ops, x)

    def _labels(self, ops, x):
        """f*(x) for the rows of x, written against ``ops`` (numpy or torch)."""
        t = x @ ops.const("UT", lambda: self.directions.T)
        return self._label(t, ops.const("C", lambda: self.coefficients))

    # ------------------------------------------------------------------ exact-solver moments
    def cross_moments(self, W, activation):
        r"""Cov(f*, σ(u_i)) and Cov(f*, x σ'(u_i)) for any activation, from its Hermite coefficients.

        With r_i = ‖w_i‖, ρ_ij = ⟨w_i, u_j⟩/r_i and a_k(r) = E[σ(rz) He_k(z)]
        = √(k!) b_k(r²) (:meth:`Activation.hermite_coefficients` is normalised):

        * E[σ(⟨w, x⟩) He_ℓ(⟨u, x⟩)] = a_ℓ(r) ρ^ℓ;
        * E[x σ'(⟨w, x⟩) He_ℓ(⟨u, x⟩)] = a_{ℓ+2}(r) ρ^ℓ / r² · w + ℓ a_ℓ(r) ρ^{ℓ−1} / r · u
          (Stein, and E[σ'(rz)He_k] = a_{k+1}/r, E[σ''(rz)He_k] = a_{k+2}/r²).

        No derivative of σ is evaluated. See docs/theory.md. The sum over
        degrees of :meth:`cross_moments_by_degree`.
        """
        rf, nt = self.cross_moments_by_degree(W, activation)
        return rf.sum(axis=0), nt.sum(axis=0)

    def cross_moments_by_degree(self, W, activation):
        """The cross moments split by the target's degree: term ℓ is Cov(degree-ℓ part of f*, φ).

        Since Hermite degrees are orthogonal, term ℓ is also the cross moment of
        the degree-ℓ part of f* with the degree-ℓ projection of the features:
        what per-degree accounting of a fit's residual needs.

        Returns
        -------
        rf : ndarray of shape (L, N)
        nt : ndarray of shape (L, N, d)
        """
        L, N = self.degree, W.shape[0]
        q = np.einsum("ij,ij->i", W, W)
        r = np.sqrt(q)
        b = activation.hermite_coefficients(L + 2, q)
        a = b * np.sqrt([math.factorial(k) for k in range(L + 3)])
        rho = (W @ self.directions.T) / r[:, None]  # (N, k)
        rf = np.zeros((L, N))
        nt = np.zeros((L, N, self.d))
        for ell in range(1, L + 1):
            c = self.coefficients[:, ell - 1]
            if not np.any(c):
                continue
            pc = rho**ell @ c
            rf[ell - 1] = a[:, ell] * pc
            along_u = (ell * a[:, ell] / r)[:, None] * rho ** (ell - 1) * c[None, :]
            nt[ell - 1] = (a[:, ell + 2] / q * pc)[:, None] * W + along_u @ self.directions
        return rf, nt

    def nn_risk(self, n_neurons: int) -> float:
        """Best quadratic-activation network with N neurons: only the degree-2 part is fitted.

        c + xᵀMx with rank M ≤ N fits xᵀB₂x by Eckart-Young on |λ(B₂)|;
        R/R0 = 1 − 2 Σ_{i≤N} λ_i(B₂)² / R0.
        """
        n = check_positive_int("n_neurons", n_neurons)
        lam = np.linalg.eigvalsh(self.quadratic_part)
        lam2 = np.sort(lam**2)[::-1]
        return float(max(1.0 - 2.0 * lam2[:n].sum() / self.r0, 0.0))

    # ------------------------------------------------------------------ risks
    def predictor_risk(self, M, c=None, normalized: bool = True) -> float:
        """Population risk of the quadratic predictor c + xᵀMx, exactly.

        R = R0 − 2‖B₂‖²_F + 2‖B₂ − M‖²_F + (c + Tr M)² (E f* = 0; only the
        degree-2 part of f* correlates with xᵀMx).
        """
        return self.predictor_risk_grad(M, c, normalized)[0]

    def predictor_risk_grad(self, M, c=None, normalized: bool = True):
        """Risk of c + xᵀMx and its gradient with respect to (M, c) (for the population flow).

        With e = c + Tr M and D = B₂ − M: ∂R/∂M = −4D + 2e I, ∂R/∂c = 2e.
        c None uses the optimal offset (e = 0).
        """
        M = check_finite_matrix("M", M)
        if M.shape != (self.d, self.d):
            raise ValueError(f"M must have shape {(self.d, self.d)}, got {M.shape}")
        B2 = self.quadratic_part
        D = B2 - (M + M.T) / 2
        e = 0.0 if c is None else float(c) + float(np.trace(M))
        risk = self.r0 - 2.0 * float(np.sum(B2 * B2)) + 2.0 * float(np.sum(D * D)) + e * e
        grad_M = -4.0 * D
        grad_M[np.diag_indices_from(grad_M)] += 2.0 * e
        scale = 1.0 / self.r0 if normalized else 1.0
        return risk * scale, grad_M * scale, 2.0 * e * scale

    def __repr__(self) -> str:
        return f"HermiteTarget(d={self.d}, k={self.k}, degree={self.degree})"
