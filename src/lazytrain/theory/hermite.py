r"""Theory per Hermite degree for RF and NT with N = O(d) neurons (N, d → ∞, N/d → ρ).

Setting: x ~ N(0, I_d), target f* = Σ_ℓ P_ℓ f* split into Hermite degrees,
weights w_i ~ N(0, I_d/d) (so ‖w_i‖ → 1), any activation σ with normalised
Hermite coefficients b_ℓ = E[σ(z) He_ℓ(z)]/√(ℓ!). Every risk is a fraction of
R0 = Var f*; the functions return the risk left in each degree (they add up to
the total R/R0). Derivations: docs/theory.md, "Theory per degree".

Both regimes are ridge regressions in disguise. A predictor's parts in the
degrees the features cannot resolve with N = O(d) neurons (degree ≥ 2 for RF,
≥ 3 for NT) are nearly orthogonal across neurons, so they act as a ridge
penalty on the coefficients, and the part of the target there is left whole:

* NT (features x σ'(⟨w_i, x⟩)): degree 1 is fitted fully (when b₁ ≠ 0; with b₁ = 0 and a
  degree-1 part in the target there is no formula here and a ValueError says so). Degree 2 is the map
  β ↦ Σ_i sym(β_i ⊗ ŵ_i), whose Gram M ↦ (MS + SM)/2 has eigenvalues
  (s + s')/2 over pairs of eigenvalues of S = Σ_i ŵ_iŵ_iᵀ (Marchenko-Pastur,
  ratio ρ, an atom 1 − ρ at 0 when ρ < 1); the penalty is λ = Σ_{ℓ≥3} ℓ b_ℓ²
  per unit ‖β‖², i.e. μ = λ / (4 b_2²) in these units. With τ = (Tr T₂)²/(d‖T₂‖²_F)
  the isotropic share of the degree-2 tensor T₂,

      R₂/‖P₂f*‖² = (1 − τ) E[(μ/(h + μ))²] + τ E[(μ/(s + μ))²],   h = (s + s')/2,

  and what the penalty costs, ‖P₂f*‖²((1 − τ)E[μh/(h + μ)²] + τE[μs/(s + μ)²]),
  lands in degrees ℓ ≥ 3 in proportion to ℓ b_ℓ². For σ = u² (λ = 0) this is
  the paper's (1 − ρ)₊² + ρ(1 − ρ)₊τ. Degrees ℓ ≥ 3 of the target are left whole.
* RF (features σ(⟨w_i, x⟩)): degree 1 is the same ridge on S with
  μ₁ = Σ_{ℓ≥2} b_ℓ²/b_1²; degree 2 is fitted only along the isotropic direction
  ‖x‖² − d, a fraction F = ρ b_2² g/(1 + ρ b_2² g) of it with
  g = ∫ dν(x)/(b_1² x + λ), ν the spectrum of ŴŴᵀ and λ = Σ_{ℓ≥2} b_ℓ²; for
  σ = u² this is the paper's 1 − τρ/(1 + ρ). Degrees ℓ ≥ 3 are left whole.

Domain of validity: N/d → ρ ∈ (0, ∞) fixed as d → ∞, targets with ‖P_ℓ f*‖
of order one and directions not aligned with the weights, weights isotropic
Gaussian; the degree-≥3 statements are limits whose finite-d corrections
decay slowly (like 1/d at fixed ρ for NT on degree 3: the NT features span up
to N·d of the ~d³/6 cubic dimensions; :func:`nt_finite_d_degree3` gives that
correction to first order, ``finite_d=True``). RF fits degree ℓ only once
N ≫ d^ℓ, NT once N ≫ d^(ℓ−1) (arXiv:1904.12191), outside this regime.

The ridge regressions themselves (Marchenko-Pastur spectrum, RF ratio, NT degree-2 parts) live in
:mod:`lazytrain.theory.marchenko_pastur`, shared with :mod:`lazytrain.theory.activation`; here the
spectrum is the d → ∞ law and the ridges are Hermite sums up to ``SIGMA_DEGREE``.
"""

from __future__ import annotations

import math

import numpy as np

from ..regimes import capabilities
from .marchenko_pastur import (MP_NODES, mp_spectrum, nt_degree2_parts, pair_ridge_parts,  # noqa: F401
                               rf_isotropic_ratio)
from .marchenko_pastur import ridge_parts as _ridge_parts

#: Hermite degrees of σ summed for the ridge penalties (b_ℓ decays fast for the usual σ).
SIGMA_DEGREE = 40


def _aligned(shares, b):
    """shares and b as float arrays of one length (zero-padded), and the risks to fill (degree 0: 0)."""
    shares = np.asarray(shares, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = max(len(shares), len(b))
    shares, b = np.pad(shares, (0, n - len(shares))), np.pad(b, (0, n - len(b)))
    out = shares.copy()
    out[0] = 0.0
    return shares, b, out


def _ratio(num: float, den: float) -> float:
    return np.inf if den <= 1e-14 * max(num, 1e-300) or den == 0 else num / den


def nt_degree_risks(rho: float, b: np.ndarray, shares: np.ndarray, tau: float = 0.0) -> np.ndarray:
    """Risk NT leaves in each degree (fractions of R0), N = ρd, d → ∞.

    Parameters
    ----------
    rho : float
        N/d.
    b : array
        Normalised Hermite coefficients b_0, b_1, ... of σ at unit variance.
    shares : array
        ‖P_ℓ f*‖²/R0 for ℓ = 0, 1, ..., L (``task.degree_shares()``).
    tau : float
        (Tr T₂)²/(d‖T₂‖²_F) of the degree-2 tensor (0 when the target has none).

    Returns
    -------
    ndarray of shape (max(L, K) + 1,)
        Entry ℓ is the risk left in degree ℓ (entry 0 is 0: the offset). Degrees above
        L receive the penalty of the degree-2 fit (K = the last nonzero b_ℓ, up to 40).
    """
    shares, b, out = _aligned(shares, b)
    if shares[1] > 0:
        if abs(b[1]) <= 1e-12 * np.max(np.abs(b)):
            raise ValueError(
                "theory per degree (NT): the target has a degree-1 part but σ has no degree-1 Hermite "
                "coefficient (b₁ = 0), so NT reaches degree 1 only through span(W) with penalties this "
                "theory does not model; use exact_risk"
            )
        out[1] = 0.0  # degree 1 is fitted fully: the features x·E σ'(u_i) span it at no cost
    if shares[2] == 0:
        return out
    ell = np.arange(len(b))
    pen = ell * b**2
    lam = float(pen[3:].sum())
    mu = _ratio(lam, 4 * b[2] ** 2)
    left, cost = nt_degree2_parts(mu, tau, *mp_spectrum(rho))
    out[2] = shares[2] * left
    cost = shares[2] * cost
    if lam > 0:
        out[3:] += cost * pen[3:] / lam
    return out


def rf_degree_risks(rho: float, b: np.ndarray, shares: np.ndarray, tau: float = 0.0) -> np.ndarray:
    """Risk RF leaves in each degree (fractions of R0), N = ρd, d → ∞.

    Same parameters and return as :func:`nt_degree_risks`. The penalty of the
    degree-1 fit and of the isotropic degree-2 fit goes to degrees ℓ ≥ 2 in
    proportion to b_ℓ² (and to degree 1 for the part of the isotropic fit that
    the features' linear parts carry).
    """
    shares, b, out = _aligned(shares, b)
    sq = b**2
    lam = float(sq[2:].sum())
    if lam == 0:  # σ affine: RF is a linear model on span(W)
        x, p = mp_spectrum(rho)
        out[1] = shares[1] * _ridge_parts(0.0, x, p)[0]
        return out
    x, p = mp_spectrum(rho)
    spread = np.zeros(len(sq))
    spread[2:] = sq[2:] / lam
    if shares[1] > 0:
        left, cost = _ridge_parts(_ratio(lam, sq[1]), x, p)
        out[1] = shares[1] * left
        out += shares[1] * cost * spread
    if shares[2] > 0 and tau > 0 and b[2] != 0:
        # F from the Marchenko-Pastur Stieltjes transform; the share of its cost that the features'
        # linear parts carry, ∫ b₁²s/(b₁²s + λ)² dν / g, by quadrature over ν (the spectrum of ŴŴᵀ:
        # the nonzero eigenvalues of S with weight 1/ρ, the atom at 0 adds nothing)
        ratio = rf_isotropic_ratio(rho, sq[1], sq[2], lam)
        nz = x > 1e-14
        to_deg1 = float(p[nz] @ (sq[1] * x[nz] / (sq[1] * x[nz] + lam) ** 2)) * sq[2] / ratio  # ρb₂²/x = 1/g
        F = ratio / (1 + ratio)
        # the isotropic part keeps (1 − F)² of itself; what the fit costs, F(1 − F), is spread
        out[2] -= shares[2] * tau * (1 - (1 - F) ** 2)
        cost = shares[2] * tau * F * (1 - F)
        out[1] += cost * to_deg1
        out += cost * (1 - to_deg1) * spread
    return out


def nt_finite_d_degree3(d: int, n_neurons: int, b: np.ndarray, risks: np.ndarray) -> np.ndarray:
    """First-order finite-d correction of the NT risks in degrees 2 and 3 (σ of degree ≤ 3).

    The d → ∞ risks ``risks`` (from :func:`nt_degree_risks`) leave degree 3 whole (plus the
    penalty of the degree-2 fit), r₃. At finite d the N·d degree-3 parts of the features capture
    some of r₃. Treat each direction v of the coefficient space R^{N·d} as giving a degree-3
    part in a random direction of the C(d+2, 3) cubic dimensions, with norm² λ = 3b₃², and a
    degree-2 part of norm² κ = 4b₂²h (h the eigenvalue of the degree-2 map on v, 0 on its null
    space). Moving along v by the best step t = g/(κ + λ), g = ⟨r₃, A₃v⟩ with E g² = λ r₃/C(d+2, 3),
    changes degree 3 by −E g²[2/(κ+λ) − λ/(κ+λ)²] and degree 2 by +E g² κ/(κ+λ)². Summing over the
    N·d − D₂ null directions (h = 0) and the D₂ = d(d+1)/2 others (h = (s+s')/2, Marchenko-Pastur
    pairs, μ = λ/(4b₂²)):

        R₃ = r₃ (1 − γ),  γ = [N·d − D₂ + D₂ E(1 − (h/(h+μ))²)] / C(d+2, 3)   (clipped to [0, 1]),
        R₂ = R₂(d = ∞) + r₃ D₂ E[μh/(h+μ)²] / C(d+2, 3).

    First order in the captured fraction; it needs b_ℓ = 0 for ℓ ≥ 4 (no penalty from higher
    degrees on the degree-3 parts). Returns a corrected copy of ``risks``.
    """
    b = np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b)))
    if np.any(np.abs(b[4:]) > 1e-10 * scale):
        raise ValueError("finite_d: the finite-d NT correction needs σ of degree ≤ 3 in Hermite terms "
                         "(b_ℓ = 0 for ℓ ≥ 4, e.g. 'hermite23' or a cubic polynomial)")
    out = np.array(risks, dtype=np.float64)
    if len(out) < 4 or b[3] == 0:
        return out
    D2, D3 = d * (d + 1) / 2, math.comb(d + 2, 3)
    rho = n_neurons / d
    if b[2] == 0:
        keep, cost = 0.0, 0.0  # no degree-2 part: every direction is free for degree 3
    else:
        # E(h/(h+μ))² = 1 − E(μ/(h+μ))² − 2E μh/(h+μ)² over the pairs h = (s + s')/2
        left, cost = pair_ridge_parts(3 * b[3] ** 2 / (4 * b[2] ** 2), *mp_spectrum(rho))
        keep = 1.0 - left - 2.0 * cost
    r3 = out[3]
    gamma = min(max((n_neurons * d - D2 * keep) / D3, 0.0), 1.0)
    out[3] = r3 * (1 - gamma)
    out[2] += r3 * D2 * cost / D3
    return out


def degree_theory(task, regime: str, n_neurons: int, activation, finite_d: bool = False) -> dict:
    """Theory per degree for a HermiteTarget (or a task with ``as_hermite()``), N = ``n_neurons``.

    finite_d : bool, default False
        NT only: add the first-order finite-d capture of degree 3 (:func:`nt_finite_d_degree3`).

    Returns
    -------
    dict
        ``by_degree``: {ℓ: risk left in degree ℓ / R0, ℓ = 1..L}; ``above``: the risk the
        predictor puts in degrees above L (the ridge penalty's share there); ``risk``: the
        total R/R0. Same keys as :func:`lazytrain.exact.degrees.degree_risks`.
    """
    from ..tasks import HermiteTarget

    if not isinstance(task, HermiteTarget):
        as_hermite = getattr(task, "as_hermite", None)
        if not callable(as_hermite):
            raise ValueError(f"task: the theory per degree needs a HermiteTarget, got {type(task).__name__}")
        task = as_hermite()
    if regime not in ("rf", "nt"):
        raise ValueError(f"regime must be 'rf' or 'nt' for the theory per degree, got {regime!r}")
    shares = np.concatenate([[0.0], task.degree_variances() / task.r0])
    B2 = task.quadratic_part
    frob2 = float(np.sum(B2 * B2))
    tau = float(np.trace(B2)) ** 2 / (task.d * frob2) if frob2 > 0 else 0.0
    b = activation.hermite_coefficients(SIGMA_DEGREE, 1.0)
    b = np.where(np.abs(b) < 1e-13 * np.max(np.abs(b)), 0.0, b)  # quadrature rounding of zero coefficients
    rho = n_neurons / task.d
    risks = (nt_degree_risks if regime == "nt" else rf_degree_risks)(rho, b, shares, tau)
    if finite_d:
        if regime != "nt":
            raise ValueError(f"finite_d: the finite-d correction exists for regime 'nt' only, got {regime!r}")
        risks = nt_finite_d_degree3(task.d, n_neurons, b, np.pad(risks, (0, max(0, 4 - len(risks)))))
    L = task.degree
    return {"risk": float(min(risks.sum(), 1.0)),
            "by_degree": {ell: float(risks[ell]) for ell in range(1, L + 1)},
            "above": float(risks[L + 1:].sum())}


def theory(task, regime, n_neurons, activation, *, finite_d=False, **options):
    """``theory_risk`` for Hermite targets: the sum of :func:`degree_theory` over degrees.

    ``finite_d=True`` (NT, σ of degree ≤ 3) adds the first-order finite-d capture of degree 3.
    NN has a formula only for the quadratic activation (the rank-N optimum of the
    degree-2 part, ``task.nn_risk``).
    """
    if options:
        raise ValueError(f"theory_risk for a HermiteTarget takes only finite_d, got {sorted(options)}")
    if regime == "nn":
        theory = capabilities(task, activation, regime).theory
        if theory:
            return task.nn_risk(n_neurons)
        raise ValueError(f"theory_risk: {theory.reason}")
    return degree_theory(task, regime, n_neurons, activation, finite_d=finite_d)["risk"]
