r"""Theory of one giant gradient step (:func:`lazytrain.one_step`), single-index Hermite targets.

Setting (docs/theory.md, "One giant step"): x ~ N(0, I_d), y = Σ_ℓ c_ℓ He_ℓ(⟨u, x⟩) (a
:class:`~lazytrain.HermiteTarget` with one direction), W0 with rows w_i ~ N(0, I/d), N = ρd,
second layer a_i = s_i/√N with fair signs s_i, n0 samples (α0 = n0/d), step η in Ba et al.'s
normalisation (arXiv 2205.01445). With b_k the normalised Hermite coefficients of σ,
β = (1/n0) Σ_k y_k x_k and the residual ≈ y (f at initialisation is O(1/√N)), the step is

    W1 ≈ c_W W0 + θ ŝ β̂ᵀ,   θ = η b₁ ‖β‖,   ŝ = s/√N,   c_W² = 1 + η² Var(y) Var σ'(z) / (N α0),

a rank-one spike along β̂ (Ba et al.; the bulk c_W of Cui et al., arXiv 2402.04980), with

    E‖β‖² = c₁² + (E[y²‖x‖²] − c₁²)/n0 ≈ c₁² + Var(y)/α0,   γ = ⟨β̂, u⟩ ≈ c₁/‖β‖.

Formulas here, each checked against exact risks of simulated steps (tests/test_one_step.py,
measured gaps in docs/theory.md):

* :func:`spike_theory`: θ, c_W, γ, the per-neuron shift r = θ/√N, and the overlap of W1's top
  right singular vector with β̂ from the rectangular BBP transition (Benaych-Georges &
  Nadakuditi, arXiv 1103.2221): with θ_e = θ/c_W and c = N/d, the squared overlap is
  1 − (c + θ_e²)/(θ_e²(θ_e² + 1)) above θ_e = c^{1/4}, 0 below; the alignment with u is γ times
  its square root.
* :func:`small_step_risk`: η = Θ(1). Only the linear part moves (the degree ≥ 2 parts keep their
  RF risk): the degree-1 residual of RF, u ᵀ(I + W1ᵀW1/μ)⁻¹u with μ = Σ_{ℓ≥2}b_ℓ²/b₁², is
  evaluated for the spiked W1 by a rank-two Woodbury update of the Marchenko–Pastur resolvent.
  As θ → ∞ and α0 → ∞ it is RF's risk with the He₁ part of the target removed (Ba et al.).
* :func:`spiked_rf_weights`: the spiked random-features equivalent of W1 (Cui et al.): a W with
  the predicted c_W, r and γ, whose exact risk is the theory's risk for any η.

Not here: the risk from Cui et al.'s fixed-point equations (their Result 3.3) for the finite-n
readout; it was not implemented and verified in this package (docs/theory.md says so).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_positive_int, check_weights
from .marchenko_pastur import mp_spectrum

#: Hermite degrees of σ summed for the ridge μ = Σ_{ℓ≥2} b_ℓ²/b₁².
SIGMA_DEGREE = 40


def _single_index(task):
    from ..tasks import HermiteTarget

    if not isinstance(task, HermiteTarget) or task.k != 1:
        raise ValueError(f"task: the one-step theory needs a single-index HermiteTarget (one direction u), "
                         f"got {task!r}")
    return task


def _check_lr(lr) -> float:
    try:
        out = float(lr)
    except (TypeError, ValueError):
        out = float("nan")
    if isinstance(lr, bool) or not np.isfinite(out) or out < 0:
        raise ValueError(f"lr must be a finite number >= 0 (Ba et al.'s η), got {lr!r}")
    return out


def beta_moments(task, n_samples: int):
    """(E‖β‖², c₁) for β = (1/n) Σ_k y_k x_k on n samples: c₁² + (E[y²‖x‖²] − c₁²)/n, exactly.

    E[y²‖x‖²] = (d − 1) Var y + E[(y t)²], t = ⟨u, x⟩, and y t = Σ_ℓ c_ℓ (He_{ℓ+1} + ℓ He_{ℓ−1})(t).
    """
    task = _single_index(task)
    n = check_positive_int("n_samples", n_samples)
    c = np.concatenate([[0.0], task.coefficients[0]])  # c[ℓ], ℓ = 0..L
    yt = np.zeros(len(c) + 1)
    for ell, cl in enumerate(c):
        yt[ell + 1] += cl
        if ell >= 1:
            yt[ell - 1] += ell * cl
    e_yt2 = float(sum(math.factorial(k) * v * v for k, v in enumerate(yt)))
    c1 = float(c[1]) if len(c) > 1 else 0.0
    e_y2x2 = (task.d - 1) * task.r0 + e_yt2
    return c1 * c1 + (e_y2x2 - c1 * c1) / n, c1


def _sigma_coefficients(activation):
    from ..activations import get_activation

    act = get_activation(activation)
    b = act.hermite_coefficients(SIGMA_DEGREE, 1.0)
    var_slope = float(act.moments(1.0).d_second) - float(b[1]) ** 2  # Var σ'(z) = E σ'² − (E σ')²
    return act, b, max(var_slope, 0.0)


def bbp_overlap(theta_eff: float, ratio: float) -> float:
    """Squared overlap of the top right singular vector of θ a bᵀ + Z with b (Z: n×m, N(0, 1/m), c = n/m).

    1 − (c + θ²)/(θ²(θ² + 1)) above the threshold θ = c^{1/4}, else 0 (arXiv 1103.2221, the Gaussian example).
    """
    t2 = float(theta_eff) ** 2
    if t2 <= math.sqrt(ratio):
        return 0.0
    return 1.0 - (ratio + t2) / (t2 * (t2 + 1.0))


def spike_theory(task, activation, n_neurons, lr, n_samples) -> dict:
    """The spike of one giant step: θ, c_W, r, γ, the top singular vector's overlaps.

    Returns
    -------
    dict
        ``beta_norm`` ‖β‖ (root of its expectation), ``gamma`` ⟨β̂, u⟩, ``theta`` the spike's
        operator norm η b₁‖β‖, ``bulk`` c_W, ``shift`` r = θ/√N (each neuron's pre-activation
        moves by s_i r ⟨β̂, x⟩), ``overlap`` |⟨v₁, β̂⟩| and ``alignment`` |⟨v₁, u⟩| = γ·overlap
        for v₁ the top right singular vector of W1.
    """
    task = _single_index(task)
    N = check_positive_int("n_neurons", n_neurons)
    eta = _check_lr(lr)
    beta2, c1 = beta_moments(task, n_samples)
    _, b, var_slope = _sigma_coefficients(activation)
    alpha0 = n_samples / task.d
    beta_norm = math.sqrt(beta2)
    theta = eta * abs(float(b[1])) * beta_norm
    bulk = math.sqrt(1.0 + eta * eta * task.r0 * var_slope / (N * alpha0))
    gamma = abs(c1) / beta_norm
    overlap = math.sqrt(bbp_overlap(theta / bulk, N / task.d))
    return {"beta_norm": beta_norm, "gamma": gamma, "theta": theta, "bulk": bulk,
            "shift": theta / math.sqrt(N), "overlap": overlap, "alignment": gamma * overlap}


def small_step_risk(task, activation, n_neurons, lr, n_samples) -> float:
    r"""R/R0 after a step η = Θ(1), then the best second layer (infinite samples), N, d → ∞.

    R = R_RF − s₁ γ² (m − Q), with R_RF the RF theory per degree
    (:func:`lazytrain.theory.hermite.degree_theory`), s₁ the He₁ share of R0, and, for
    ν the spectrum of W0ᵀW0, k = b₁²/Σ_{ℓ≥2}b_ℓ²:

        m = ∫ dν(s)/(1 + k s),   t = (d/N) ∫ s/(1 + k s) dν(s),
        Q = m − m²(t − 1/k) / (m(t − 1/k) − 1/(kθ)²)

    (the resolvent of W1ᵀW1 = W0ᵀW0 + θ(W0ᵀŝβ̂ᵀ + β̂ŝᵀW0) + θ²β̂β̂ᵀ in the direction β̂, by a
    rank-two Woodbury update). η = 0 gives R_RF; θ → ∞ removes the part γ² of the linear
    component along β̂ (Q → 0). Valid for η = O(1) (the bulk c_W − 1 = O(η²/N) is neglected).
    """
    from .hermite import degree_theory

    task = _single_index(task)
    N = check_positive_int("n_neurons", n_neurons)
    act, b, _ = _sigma_coefficients(activation)
    rf = degree_theory(task, "rf", N, act)["risk"]
    spike = spike_theory(task, act, N, lr, n_samples)
    lam = float(np.sum(b[2:] ** 2))
    s1 = float(task.degree_shares().get(1, 0.0))
    if s1 == 0.0 or spike["theta"] == 0.0 or lam == 0.0:
        return float(rf)
    k = float(b[1]) ** 2 / lam
    x, p = mp_spectrum(N / task.d)
    m = float(p @ (1.0 / (1.0 + k * x)))
    t = task.d / N * float(p @ (x / (1.0 + k * x)))
    a = t - 1.0 / k
    q = m - m * m * a / (m * a - 1.0 / (k * spike["theta"]) ** 2)
    return float(rf - s1 * spike["gamma"] ** 2 * (m - q))


def spiked_rf_weights(task, activation, W0, lr, n_samples, seed=0) -> np.ndarray:
    """The spiked random-features equivalent of one_step's W1 (Cui et al., arXiv 2402.04980).

    W = c_W W0 + r s v̂ᵀ with c_W, r = θ/√N and γ from :func:`spike_theory`, s the signs
    :func:`lazytrain.regimes.one_step.initial_second_layer` draws for ``seed`` and
    v̂ = γ u + √(1 − γ²) ζ (ζ a random unit vector orthogonal to u, from ``seed``). Its
    ``exact_risk(task, 'rf', W, activation)`` is the theory's risk after the step.
    """
    from ..regimes.one_step import initial_second_layer

    task = _single_index(task)
    W0 = check_weights(W0, task.d)
    N = W0.shape[0]
    spike = spike_theory(task, activation, N, lr, n_samples)
    u = task.directions[0]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18, 2]))
    zeta = np.zeros(task.d)
    while not np.linalg.norm(zeta) > 0.5:  # ζ ⊥ u of unit norm (a draw along u is redrawn)
        zeta = rng.standard_normal(task.d)
        zeta /= np.linalg.norm(zeta)
        zeta -= (zeta @ u) * u
    zeta /= np.linalg.norm(zeta)
    g = spike["gamma"]
    v = g * u + math.sqrt(max(1.0 - g * g, 0.0)) * zeta
    s = initial_second_layer(N, "signs", seed) * math.sqrt(N)
    return spike["bulk"] * W0 + spike["shift"] * np.outer(s, v)


__all__ = ["bbp_overlap", "beta_moments", "small_step_risk", "spike_theory", "spiked_rf_weights"]
