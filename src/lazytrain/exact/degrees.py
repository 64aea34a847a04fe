r"""Per-degree accounting of an RF / NT predictor: how much of each Hermite degree it carries.

For x ~ N(0, I_d) every square-integrable function splits into Wiener chaoses
(Hermite degrees) f = Σ_ℓ P_ℓ f, orthogonal in L². A degree-ℓ part is a
symmetric tensor T of order ℓ, P_ℓ f = I_ℓ(T) (for a unit u, He_ℓ(⟨u, x⟩) =
I_ℓ(u^⊗ℓ)), with E[I_ℓ(T) I_ℓ(S)] = ℓ! ⟨T, S⟩. The risk of a predictor f̂ is
then Σ_ℓ ‖P_ℓ(f* − f̂)‖², and the risk left in degree ℓ is

    ‖P_ℓ(f* − f̂)‖² = ‖P_ℓ f*‖² − 2⟨P_ℓ f*, P_ℓ f̂⟩ + ‖P_ℓ f̂‖².

The middle term is the predictor's coefficients against the cross moments of
the target's degree-ℓ component (``HermiteTarget.cross_moments_by_degree``);
this module gives the last term.

Degree-ℓ parts of the features (r = ‖w‖, ŵ = w/r, a_ℓ(r) = E[σ(r z) He_ℓ(z)]):

* RF: P_ℓ σ(⟨w, x⟩) = (a_ℓ(r)/ℓ!) I_ℓ(ŵ^⊗ℓ);
* NT: by the product rule x_a I_m(T) = I_{m+1}(sym(e_a ⊗ T)) + m I_{m−1}(T·e_a) and
  E[σ'(r z) He_m(z)] = a_{m+1}(r)/r,

      P_ℓ x_a σ'(⟨w, x⟩) = (a_ℓ(r) / (r (ℓ−1)!)) I_ℓ(sym(e_a ⊗ ŵ^⊗(ℓ−1)))
                          + (a_{ℓ+2}(r) / (r ℓ!)) ŵ_a I_ℓ(ŵ^⊗ℓ).

So the predictor Σ_i ⟨β_i, x⟩σ'(u_i) + Σ_i α_i σ(u_i) has the degree-ℓ tensor
T_ℓ = Σ_i c_i sym(β_i ⊗ ŵ_i^⊗(ℓ−1)) + e_i ŵ_i^⊗ℓ with c_i = a_ℓ/(r_i(ℓ−1)!) and
e_i = a_{ℓ+2}(β_i·ŵ_i)/(r_i ℓ!) + α_i a_ℓ/ℓ!, and with G = ŴŴᵀ

    ‖T_ℓ‖² = Σ_ij c_i c_j (1/ℓ)[(β_i·β_j) G_ij^(ℓ−1) + (ℓ−1)(β_i·ŵ_j)(β_j·ŵ_i) G_ij^(ℓ−2)]
             + 2 Σ_ij c_i e_j (β_i·ŵ_j) G_ij^(ℓ−1) + Σ_ij e_i e_j G_ij^ℓ,

from ⟨sym(a ⊗ w^⊗(ℓ−1)), sym(b ⊗ v^⊗(ℓ−1))⟩ = (1/ℓ)[(a·b)(w·v)^(ℓ−1) + (ℓ−1)(a·v)(b·w)(w·v)^(ℓ−2)]
and ⟨sym(a ⊗ w^⊗(ℓ−1)), v^⊗ℓ⟩ = (a·v)(w·v)^(ℓ−1). Each degree costs O(N²d). See
docs/theory.md, "Per-degree accounting".
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import Activation


def predictor_degree_norms(W: np.ndarray, activation: Activation, degrees, *, nt_coef=None,
                           rf_coef=None) -> np.ndarray:
    """‖P_ℓ f̂‖² for f̂(x) = Σ_i ⟨β_i, x⟩ σ'(⟨w_i, x⟩) + Σ_i α_i σ(⟨w_i, x⟩), x ~ N(0, I_d).

    Parameters
    ----------
    W : array of shape (N, d)
        First-layer weights (no zero rows).
    activation : Activation
    degrees : iterable of int
        The Hermite degrees ℓ ≥ 1 wanted.
    nt_coef : array of shape (N, d) or (N·d,), optional
        β (the NT coefficients, i-major as the NT solver returns them).
    rf_coef : array of shape (N,), optional
        α (the RF coefficients, or the second layer of NT + second layer).

    Returns
    -------
    ndarray of shape (len(degrees),)
        The L² norms² of the degree-ℓ parts (the offset has degree 0 and is not counted).
    """
    W = np.asarray(W, dtype=np.float64)
    N, d = W.shape
    degrees = [int(ell) for ell in degrees]
    if any(ell < 1 for ell in degrees):
        raise ValueError(f"degrees must be integers >= 1, got {degrees}")
    if nt_coef is None and rf_coef is None:
        raise ValueError("predictor_degree_norms needs nt_coef, rf_coef or both")
    q = np.einsum("ij,ij->i", W, W)
    r = np.sqrt(q)
    What = W / r[:, None]
    top = max(degrees) + 2
    b = activation.hermite_coefficients(top, q)  # b_k = a_k/√(k!)
    a = b * np.sqrt([math.factorial(k) for k in range(top + 1)])
    G = What @ What.T
    Bm = None if nt_coef is None else np.asarray(nt_coef, dtype=np.float64).reshape(N, d)
    alpha = None if rf_coef is None else np.asarray(rf_coef, dtype=np.float64).reshape(N)
    if Bm is not None:
        BB = Bm @ Bm.T            # β_i·β_j
        BW = Bm @ What.T          # BW_ij = β_i·ŵ_j
        bw_self = np.diag(BW).copy()
    out = []
    for ell in degrees:
        fact = math.factorial(ell)
        e = np.zeros(N)
        total = 0.0
        if alpha is not None:
            e += alpha * a[:, ell] / fact
        if Bm is not None:
            c = a[:, ell] / (r * math.factorial(ell - 1))
            e += a[:, ell + 2] * bw_self / (r * fact)
            Gm1 = G ** (ell - 1)
            inner = BB * Gm1
            if ell >= 2:
                inner = inner + (ell - 1) * BW * BW.T * G ** (ell - 2)
            total += float(c @ inner @ c) / ell
            total += 2.0 * float(c @ (BW * Gm1) @ e)
        total += float(e @ (G ** ell) @ e)
        out.append(fact * max(total, 0.0))
    return np.array(out)


def residual_by_degree(shares_r0, cross_by_degree, norms) -> np.ndarray:
    """‖P_ℓ(f* − f̂)‖² = ‖P_ℓ f*‖² − 2⟨P_ℓ f*, P_ℓ f̂⟩ + ‖P_ℓ f̂‖², clipped at 0 (rounding).

    ``shares_r0``: ‖P_ℓ f*‖² per degree; ``cross_by_degree``: ⟨P_ℓ f*, P_ℓ f̂⟩ (the
    coefficients against the cross moments of the target's degree-ℓ part); ``norms``:
    :func:`predictor_degree_norms`.
    """
    res = np.asarray(shares_r0, float) - 2.0 * np.asarray(cross_by_degree, float) + np.asarray(norms, float)
    return np.maximum(res, 0.0)


def _hermite_view(task):
    """The task as a HermiteTarget (itself, or ``task.as_hermite()``), or a ValueError."""
    from ..tasks import HermiteTarget

    if isinstance(task, HermiteTarget):
        return task
    as_hermite = getattr(task, "as_hermite", None)
    if callable(as_hermite):
        return as_hermite()
    raise ValueError(f"task: the per-degree accounting needs a HermiteTarget or a task with as_hermite(), "
                     f"got {type(task).__name__}")


def degree_risks(task, regime, W, activation, *, second_layer=False, method="auto", tol=1e-10,
                 maxiter=None, max_memory=None) -> dict:
    r"""The best RF or NT predictor's risk, split by Hermite degree (fractions of R0).

    Parameters
    ----------
    task : HermiteTarget, or a task with ``as_hermite()`` (QuadraticTarget)
    regime : {'rf', 'nt'}
    W : array of shape (N, d)
    activation : str, Activation or callable
    second_layer, method, tol, maxiter
        As for :func:`lazytrain.exact.exact_risk` (the general solver is always used:
        the accounting needs the predictor's coefficients).
    max_memory : int or str, optional
        As for :func:`lazytrain.exact.exact_risk`: a job whose estimate exceeds it
        is refused before anything is allocated.

    Returns
    -------
    dict
        ``risk``: R/R0 of the best predictor; ``by_degree``: {ℓ: ‖P_ℓ(f* − f̂)‖²/R0,
        ℓ = 1..L}; ``above``: the predictor's own part in degrees above L, /R0;
        ``shares``: ``task.degree_shares()``. ``sum(by_degree) + above == risk`` up to
        the solver's accuracy (degree 0 is fitted exactly by the offset).

    Examples
    --------
    >>> import numpy as np, lazytrain as lt
    >>> task = lt.HermiteTarget(np.eye(2, 20), [[0.0, 1.0, 0.5], [0.0, 1.0, 0.5]])
    >>> acc = lt.degree_risks(task, "nt", lt.random_weights(20, 20, seed=0), "hermite23")
    >>> round(acc["by_degree"][2] + acc["by_degree"][3] + acc["by_degree"][1] + acc["above"] - acc["risk"], 8)
    0.0
    """
    from .._validation import check_weights
    from ..activations import get_activation
    from ..regimes import capabilities, get_regime
    from .general import lazy_solution

    regime = get_regime(regime, second_layer=second_layer)
    if not regime.linear:
        raise ValueError(f"regime must be 'rf' or 'nt' for the per-degree accounting, got {regime.name!r}")
    from . import check_job_memory

    target = _hermite_view(task)
    activation = get_activation(activation)
    check_job_memory(target, regime.name, W, activation, max_memory, "degree_risks", closed_form=False,
                     second_layer=second_layer, method=method)
    W = check_weights(W, target.d)
    L = target.degree
    var = target.degree_variances()
    if capabilities(target, activation, regime).closed_form and not second_layer:
        # σ = a u² + c0: the features are quadratic, so every degree but 2 is left whole and the
        # closed-form risk (a QR or an N×N solve) gives degree 2; no solve of the general system
        from . import exact_risk

        risk = exact_risk(target, regime.name, W, activation)
        by = var / target.r0
        if L >= 2:
            by[1] = max(risk - (by.sum() - by[1]), 0.0)
        return {"risk": risk, "by_degree": {ell: float(by[ell - 1]) for ell in range(1, L + 1)},
                "above": 0.0, "shares": target.degree_shares()}
    sol = lazy_solution(target, regime, W, activation, method=method, tol=tol, maxiter=maxiter)
    b, rf_coef = regime.layout(*W.shape).split(sol.coef)   # the typed layout: tangent b (N, d), σ block a
    nt_coef = None if b is None else b.reshape(-1)
    norms = predictor_degree_norms(W, activation, range(1, L + 1), nt_coef=nt_coef, rf_coef=rf_coef)
    rf_c, nt_c = target.cross_moments_by_degree(W, activation)  # term ℓ: Cov(degree-ℓ part of f*, φ)
    cross = np.zeros(L)
    if nt_coef is not None:
        cross += nt_c.reshape(L, -1) @ nt_coef
    if rf_coef is not None:
        cross += rf_c @ rf_coef
    by = residual_by_degree(var, cross, norms) / target.r0
    risk = sol.risk
    return {"risk": risk, "by_degree": {ell: float(by[ell - 1]) for ell in range(1, L + 1)},
            "above": float(max(risk - by.sum(), 0.0)), "shares": target.degree_shares()}
