r"""Finite samples: RF, NT and kernel ridge fitted on n samples, scored by their population risk.

:func:`fit` draws n training pairs (x, y) from the task, fits a predictor of
the regime's class by ridge regression with a free (unpenalised) offset,

    min_{c, β}  (1/n) Σ_j (y_j - c - βᵀφ(x_j))² + λ N ‖β‖²,

and returns the exact population risk R/R0 of the fitted predictor, with no
test sampling. λ = ``ridge``; λ = 0 is the minimum-norm least-squares
solution. The penalty λN‖β‖² is λ‖γ‖² on the features normalised by 1/√N
(β = γ/√N), so a given λ means the same at every width N and in the kernel
limit N → ∞ (``rf_kernel``, ``nt_kernel``: kernel ridge regression with
the infinite-width kernel, (1/n)Σ(y - c - f)² + λ‖f‖²_H).

The population risk of c + βᵀφ is, with the centred Gram K = Cov φ, the
feature means m = E φ and the cross moments v = Cov(y, φ),

    R = Var y - 2βᵀv + βᵀKβ + (E y - c - βᵀm)²,

the same Gaussian moments :func:`lazytrain.exact_risk` minimises over β
(so R ≥ the exact risk, with equality as n → ∞). See docs/theory.md,
"Finite samples".
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from ._validation import (_show, as_generator, check_choice, check_memory, check_positive_int, check_weights,
                          memory_limit, normalise_name)
from .activations import Activation, get_activation
from .exact.general import population_gram
from .regimes import ALL_REGIMES, NT, RF, Coef, capabilities, check_regime, get_regime

#: The regimes ``fit`` takes: RF and NT at fixed W, and their infinite-width kernels (name + KERNEL_SUFFIX).
KERNEL_SUFFIX = "_kernel"
FIT_REGIMES = ("rf", "nt", "rf" + KERNEL_SUFFIX, "nt" + KERNEL_SUFFIX)
FIT_METHODS = ("auto", "dense", "dual", "cg")
#: 'auto' forms the n × P feature matrix (and takes its SVD) up to this many entries.
DENSE_MAX_ENTRIES = 20_000_000
#: 'auto' uses the n × n dual up to this many samples, conjugate gradients beyond.
DUAL_MAX_SAMPLES = 20_000


# ---------------------------------------------------------------- the task's moments (one adapter)
@dataclass
class TaskMoments:
    """What the population risk needs from the task: input law, E y, Var y and the cross moments.

    Attributes
    ----------
    components : tuple of Component
        The input law as centred Gaussian components.
    mean, var : float
        E y and Var y.
    rf : ndarray (N,)
        Cov(y, σ(⟨w_i, x⟩)).
    nt : ndarray (N, d)
        Cov(y, x σ'(⟨w_i, x⟩)).
    """

    components: tuple
    mean: float
    var: float
    rf: np.ndarray
    nt: np.ndarray


def task_moments(task, W, activation) -> TaskMoments:
    """The Gaussian moments of ``task`` for weights W, from the task contract (lazytrain.tasks.base):
    ``components``, ``cross_moments(W, activation)``, ``y_mean`` and ``r0`` (= Var y)."""
    from .exact import check_task

    task = check_task(task)
    rf, nt = task.cross_moments(W, activation)
    return TaskMoments(tuple(task.components), float(task.y_mean), float(task.r0), rf, nt)


class PopulationRisk:
    """The exact R/R0 of any predictor of one RF or NT class (fixed W), moments computed once.

    R = Var y - 2βᵀv + βᵀKβ + (E y - c - βᵀm)², with K, m, v Gaussian moments
    (the regime's population Gram, :func:`lazytrain.exact.general.population_gram`, built from its
    coefficient layout). ``regime``: a name (with ``second_layer``) or a Regime object.
    """

    def __init__(self, task, W, activation, regime, second_layer=False):
        self.task = task
        act = get_activation(activation)
        self.mom = task_moments(task, W, act)
        self.regime = get_regime(regime, second_layer=second_layer)
        self.layout = self.regime.layout(*W.shape)
        self.K, self.m = population_gram(self.layout, act, W, self.mom.components)
        self.v = self.layout.join(self.mom.nt, self.mom.rf)   # Cov(y, φ) in the layout's order

    def __call__(self, coef) -> float:
        """R/R0 of the predictor ``coef`` (a :class:`~lazytrain.regimes.Coef` or its dict view)."""
        coef = coef if isinstance(coef, Coef) else Coef.from_dict(coef)
        c = coef.offset
        beta = np.asarray(self.layout.flat(coef), dtype=np.float64)
        Kb = self.K @ beta
        mom = self.mom
        quad = float(beta @ Kb)
        risk = mom.var - 2.0 * float(beta @ self.v) + quad + (mom.mean - c - float(beta @ self.m)) ** 2
        # rounding: the terms are of size Var y + βᵀKβ; a value below -1e-9 of that is a bug
        scale = mom.var + abs(quad)
        if risk < -1e-9 * scale:
            raise RuntimeError(f"population risk came out negative ({risk:.3g} against terms of size "
                               f"{scale:.3g}): the Gaussian moments are inaccurate")
        return max(risk, 0.0) / self.task.r0


def population_risk(task, W, activation, coef) -> float:
    """Exact R/R0 of the predictor ``coef`` (keys offset, a and/or b, as in :class:`FitResult`).

    RF when ``coef`` has no ``b``; NT (with the second layer when it also has ``a``) otherwise.
    """
    regime = NT(second_layer="a" in coef) if "b" in coef else RF()
    return PopulationRisk(task, W, activation, regime)(coef)


# ---------------------------------------------------------------- result
@dataclass
class FitResult:
    """A predictor fitted on n samples and its risks.

    Attributes
    ----------
    risk : float
        Population risk R/R0 of the fitted predictor: exact (Gaussian
        moments, no test sampling) for 'rf' and 'nt', and for the kernel
        regimes with a quadratic activation; otherwise a Monte Carlo
        estimate with standard error ``info['risk_se']`` (see :func:`fit`).
    train_risk : float
        Mean square error on the n training samples, divided by R0.
    coef : dict
        The predictor. 'rf': ``offset`` c and ``a`` (N,), f(x) = c + Σ a_i σ(⟨w_i, x⟩).
        'nt': ``offset``, ``b`` (N, d) and, with ``second_layer``, ``a`` (N,),
        f(x) = c + Σ ⟨b_i, x⟩σ'(⟨w_i, x⟩) + Σ a_i σ(⟨w_i, x⟩).
        Kernel regimes: ``offset``, ``alpha`` (n,) and ``x`` (n, d), the
        training inputs, f(x) = c + Σ_j α_j k(x_j, x).
    settings : dict
        regime, n_samples, ridge, activation, seed, second_layer, n_neurons, d.
    info : dict
        How it was solved: method ('dense', 'dual', 'cg', 'kernel'), CG
        iterations, relative residual, seconds, risk_method ('exact' or
        'monte_carlo') and risk_se.
    """

    risk: float
    train_risk: float
    coef: dict
    settings: dict
    info: dict = field(default_factory=dict)
    W: np.ndarray | None = field(default=None, repr=False)
    activation: Activation | None = field(default=None, repr=False)

    def predict(self, x) -> np.ndarray:
        """The fitted predictor at the rows of x (shape (m, d)): shape (m,)."""
        x = np.asarray(x, dtype=np.float64)
        return _predict(self.settings["regime"], self.coef, self.W, self.activation, x,
                        self.settings["second_layer"])


def fit_regime(regime, second_layer=False):
    """(the Regime object, whether its kernel limit is fitted) of a ``fit`` regime name."""
    if isinstance(regime, str) and normalise_name(regime) in ALL_REGIMES:
        check_regime(regime)  # a regime that moves W first is refused with what to call instead
    regime = check_choice("regime", regime, FIT_REGIMES)
    kernel = regime.endswith(KERNEL_SUFFIX)
    base = get_regime(regime.removesuffix(KERNEL_SUFFIX), second_layer=second_layer)
    if second_layer and not base.tangent:
        raise ValueError(f"second_layer=True applies to the NT regimes only, got regime {regime!r}")
    return base, kernel


def _predict(regime, coef, W, act, x, second_layer):
    base, kernel = fit_regime(regime, second_layer)
    if kernel:
        return coef["offset"] + base.kernel(act, x, coef["x"]) @ coef["alpha"]
    return base.predict(x, W, act, Coef.from_dict(coef))


# ---------------------------------------------------------------- validation and memory
def sample_generator(seed) -> np.random.Generator:
    """The training sample's stream: SeedSequence([seed, 1]), independent of random_weights(seed=seed).

    (With the same stream, the first training inputs would be the rows of W
    times √d, and the fit would see inputs aligned with its own neurons.)
    """
    if isinstance(seed, np.random.Generator):
        raise ValueError("seed must be a non-negative integer (it is stored with the result), "
                         "got a numpy Generator")
    as_generator(seed)  # validates: a non-negative integer
    return np.random.default_rng([int(seed), 1])



def _check_ridge(ridge) -> float:
    try:
        value = float(ridge)
    except (TypeError, ValueError):
        raise ValueError(f"ridge must be a finite number >= 0, got {_show(ridge)}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"ridge must be a finite number >= 0 (0: minimum-norm least squares), "
                         f"got {_show(ridge)}")
    return value


def memory_estimate(method, n, P, N, d) -> int:
    """Bytes a fit plans to hold at once, by method (the samples included)."""
    base = n * (d + 4)
    k = min(n, P)
    per = {
        "dense": 2 * n * P + k * (n + P) + 4 * k * k,
        "dual": 2 * n * N + 4 * n * n,
        "cg": 2 * n * N + 8 * P,
        "kernel": 5 * n * n,
    }[method]
    return 8 * (base + per)


def moments_memory(task, regime, N, d, activation, second_layer=False) -> int:
    """Bytes of the population moments that score a fitted RF/NT predictor (0 for the kernels):
    the exact solver's estimate, :func:`lazytrain.exact.memory_estimate`."""
    if regime.endswith("_kernel"):
        return 0
    from .exact import memory_estimate as exact_memory

    return exact_memory(task, regime, (N, d), activation, second_layer=second_layer, closed_form=False,
                        method="cg")


def plan(regime, n, N, d, second_layer=False, method="auto", limit=float("inf")) -> tuple[str, int]:
    """The solver ``fit`` uses for these sizes and the bytes it plans to hold: (method, bytes).

    'auto': dual for NT with P > 2n, else dense up to n·P = 2·10⁷, else dual up to
    n = 20 000, else CG, each only if it fits in ``limit``.
    """
    base, kernel = fit_regime(regime, second_layer)
    if kernel:
        return "kernel", memory_estimate("kernel", n, 0, 0, d)
    layout = base.layout(N, d)
    tangent, P = layout.tangent, layout.size
    if method != "auto":
        chosen = method
    elif tangent and P > 2 * n and n <= DUAL_MAX_SAMPLES and memory_estimate("dual", n, P, N, d) <= limit:
        chosen = "dual"  # NT with many more parameters than samples: the Gram costs O(n²(N + d))
    elif n * P <= DENSE_MAX_ENTRIES and memory_estimate("dense", n, P, N, d) <= limit:
        chosen = "dense"
    elif n <= DUAL_MAX_SAMPLES and memory_estimate("dual", n, P, N, d) <= limit:
        chosen = "dual"
    else:
        chosen = "cg"
    return chosen, memory_estimate(chosen, n, P, N, d)


# ---------------------------------------------------------------- solvers
class _Features:
    """A regime's training features without forming them, block by block of its layout:
    φ(x) = [x σ'(u_i) (the tangent block); σ(u_i) (the σ block)]."""

    def __init__(self, X, W, act, regime):
        self.X, self.W, self.act, self.regime = X, W, act, regime
        self.n, self.d = X.shape
        self.N = W.shape[0]
        self.layout = regime.layout(self.N, self.d)
        tangent, scalar = self.tangent, self.scalar = self.layout.tangent, self.layout.scalar
        self.P = self.layout.size
        u = X @ W.T
        self.D = act.derivative(u) if tangent else None
        self.S = act.fn(u) if scalar else None
        self.mean = self.rmatvec_raw(np.full(self.n, 1.0 / self.n))

    def dense(self):
        return self.regime.features(self.X, self.W, self.act)

    def split(self, beta):
        return self.layout.split(beta)

    def matvec_raw(self, beta):
        b, a = self.split(beta)
        out = np.zeros(self.n)
        if self.tangent:
            out += np.einsum("ni,ni->n", self.D, self.X @ b.T)
        if self.scalar:
            out += self.S @ a
        return out

    def rmatvec_raw(self, r):
        parts = []
        if self.tangent:
            parts.append(((self.D * r[:, None]).T @ self.X).ravel())
        if self.scalar:
            parts.append(self.S.T @ r)
        return np.concatenate(parts)

    def matvec(self, beta):  # centred features
        return self.matvec_raw(beta) - float(self.mean @ beta)

    def rmatvec(self, r):
        return self.rmatvec_raw(r) - self.mean * float(r.sum())

    def gram(self):
        """Φ Φᵀ (n × n) from the structure: (XXᵀ) ⊙ (DDᵀ) + SSᵀ."""
        G = np.zeros((self.n, self.n))
        if self.tangent:
            G += (self.X @ self.X.T) * (self.D @ self.D.T)
        if self.scalar:
            G += self.S @ self.S.T
        return G


def _solve_dense(Phi, y, pens):
    """Ridge with a free offset on the feature matrix, by one SVD, for each pen = nλN (0: min norm)."""
    mean = Phi.mean(axis=0)
    Pc = Phi - mean
    yc = y - y.mean()
    try:
        U, s, Vt = scipy.linalg.svd(Pc, full_matrices=False, check_finite=False, lapack_driver="gesdd")
    except np.linalg.LinAlgError:
        U, s, Vt = scipy.linalg.svd(Pc, full_matrices=False, check_finite=False, lapack_driver="gesvd")
    Uy = U.T @ yc
    out = []
    for pen in pens:
        if pen == 0.0:
            keep = s > s[0] * max(Pc.shape) * np.finfo(float).eps if s.size and s[0] > 0 else s > np.inf
            filt = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
        else:
            filt = s / (s * s + pen)
        beta = Vt.T @ (filt * Uy)
        out.append((beta, float(y.mean() - mean @ beta),
                    {"method": "dense", "iterations": 0, "relative_residual": 0.0}))
    return out


def _solve_gram(G, y, pens):
    """Dual ridge with a free offset: α = (HGH + pen I)⁺ H y for each pen, from one eigendecomposition.

    Returns a list of (α, relative residual of the normal equations on the kept eigenvectors).
    """
    n = G.shape[0]
    Gc = G - G.mean(axis=0)[None, :]
    Gc = Gc - Gc.mean(axis=1)[:, None]
    Gc = (Gc + Gc.T) / 2
    yc = y - y.mean()
    lam, U = scipy.linalg.eigh(Gc, check_finite=False)
    keep = lam > max(lam[-1], 0.0) * n * np.finfo(float).eps * 10
    Uy = U.T @ yc
    ynorm = max(float(np.linalg.norm(yc)), 1e-300)
    out = []
    for pen in pens:
        if pen == 0.0:
            inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
            target = U[:, keep] @ Uy[keep]
        else:
            inv = 1.0 / (np.maximum(lam, 0.0) + pen)
            target = yc
        alpha = U @ (inv * Uy)
        alpha -= alpha.mean()  # α ∈ range(H): the offset is not penalised
        resid = float(np.linalg.norm(Gc @ alpha + pen * alpha - target) / ynorm)
        out.append((alpha, resid))
    return out


def _solve_cg(F, y, pen, tol, maxiter):
    """Conjugate gradients on the normal equations (ΦcᵀΦc + pen I)β = Φcᵀ yc, matrix-free."""
    yc = y - y.mean()
    rhs = F.rmatvec(yc)
    op = scipy.sparse.linalg.LinearOperator((F.P, F.P), dtype=np.float64,
                                            matvec=lambda v: F.rmatvec(F.matvec(v)) + pen * v)
    count = [0]
    beta, status = scipy.sparse.linalg.cg(op, rhs, rtol=tol, atol=0.0, maxiter=maxiter,
                                          callback=lambda _: count.__setitem__(0, count[0] + 1))
    norm = max(float(np.linalg.norm(rhs)), 1e-300)
    resid = float(np.linalg.norm(op.matvec(beta) - rhs) / norm)
    if status != 0 or resid > 10 * tol:
        warnings.warn(f"fit: conjugate gradients stopped after {count[0]} iterations at relative "
                      f"residual {resid:.2e} > tol = {tol:g}; raise maxiter or the ridge",
                      RuntimeWarning, stacklevel=4)
    return beta, float(y.mean() - F.mean @ beta), {"method": "cg", "iterations": count[0],
                                                  "relative_residual": resid}


def _mc_risks(task, predict, count, rtol, max_samples, seed):
    """Monte Carlo risks R/R0 of ``count`` predictors, each on fresh samples until its standard
    error is ≤ rtol·risk; returns one (risk, standard error, test samples used) per predictor.

    ``predict(x, which)`` gives the predictions at the rows of x of the predictors numbered
    ``which`` (those not yet done), one array each. The predictors share one test stream
    (SeedSequence([seed, 20191906])) and each stops on its own, so each gets the samples, the risk
    and the standard error it would get alone; what is shared is the work per batch (for kernel
    ridge: one test kernel matrix for every ridge, docs/performance.md).
    """
    rng = np.random.default_rng([int(seed), 20_191_906])
    batch, drawn = 4096, 0
    total, s1, s2 = [0] * count, [0.0] * count, [0.0] * count
    mean, se, done = [math.nan] * count, [math.inf] * count, [False] * count
    while drawn < max_samples and not all(done):
        x, y = task.sample(batch, rng)
        drawn += batch
        which = [j for j in range(count) if not done[j]]
        for j, f in zip(which, predict(x, which), strict=True):
            e2 = (y - f) ** 2
            total[j], s1[j], s2[j] = total[j] + batch, s1[j] + float(e2.sum()), s2[j] + float((e2 * e2).sum())
            mean[j] = s1[j] / total[j]
            se[j] = math.sqrt(max(s2[j] / total[j] - mean[j] * mean[j], 0.0) / total[j])
            done[j] = total[j] >= 2 * batch and se[j] <= rtol * mean[j]
    out = []
    for j in range(count):
        if not se[j] <= rtol * mean[j]:
            warnings.warn(f"fit: the Monte Carlo risk has relative standard error {se[j] / mean[j]:.2e} > "
                          f"risk_rtol = {rtol:g} after {total[j]} test samples; raise max_test_samples",
                          RuntimeWarning, stacklevel=3)
        out.append((mean[j] / task.r0, se[j] / task.r0, total[j]))
    return out


# ---------------------------------------------------------------- public entry point
def fit(task, regime, W, n_samples, ridge=0.0, activation="quadratic", seed=0, second_layer=False,
        **options) -> FitResult:
    """Fit an RF, NT or kernel ridge predictor on n samples and return its population risk.

    Parameters
    ----------
    task : a lazytrain task (QuadraticTarget, GaussianMixture, HermiteTarget, ...)
    regime : {'rf', 'nt', 'rf_kernel', 'nt_kernel'}
        'rf': c + Σ a_i σ(⟨w_i, x⟩); 'nt': c + Σ ⟨b_i, x⟩σ'(⟨w_i, x⟩) (+ Σ a_i σ(⟨w_i, x⟩)
        with ``second_layer``); the kernel regimes: their N → ∞ limits,
        kernel ridge regression with k(x, x') = E_w[φ(x)ᵀφ(x')] per neuron,
        w ~ N(0, I/d) (:func:`lazytrain.kernels.kernel_matrix`).
    W : array of shape (N, d), or None for the kernel regimes
        First-layer weights (not used by the kernel regimes).
    n_samples : int
        n, the number of training pairs, drawn from ``task`` with ``seed``.
    ridge : float, default 0
        λ ≥ 0 in (1/n)Σ(y - c - βᵀφ)² + λN‖β‖² (kernels: + λ‖f‖²_H); the
        offset c is not penalised. 0 gives the minimum-norm least-squares fit.
    activation : str, Activation or callable, default 'quadratic'
    seed : int
        Seed of the training sample (stream SeedSequence([seed, 1]), so
        independent of ``random_weights(..., seed=seed)``) and of the Monte
        Carlo test sample.
    second_layer : bool
        NT regimes: add the second-layer features σ(⟨w_i, x⟩).
    **options
        ``method`` ('auto', 'dense', 'dual', 'cg'): 'dense' forms the n × P
        features and takes their SVD; 'dual' solves the n × n system with the
        Gram (XXᵀ)⊙(σ'σ'ᵀ) + σσᵀ formed from the structure (never the
        features); 'cg' runs conjugate gradients on the normal equations with
        O(nNd) products and O(nN + Nd) memory; 'auto' is dual for NT with
        P > 2n, else dense up to n·P = 2·10⁷, then dual up to n = 20 000,
        then CG.
        ``tol`` (CG relative residual, default 1e-10), ``maxiter`` (default
        10·P; a RuntimeWarning says when CG stops short).
        ``max_memory``: bytes (or a size such as '4GB') the fit may use
        (default ``$LAZYTRAIN_MAX_MEMORY`` or the memory available); a fit
        whose estimate (the solver's plan and the population moments) is
        larger is refused before anything is allocated
        (:class:`~lazytrain.MemoryLimitError`, a MemoryError).
        ``risk_rtol``, ``max_test_samples``: kernel regimes with a
        non-quadratic σ, whose population risk is a Monte Carlo average over
        fresh samples drawn until its standard error is ≤ risk_rtol·risk
        (default 1 %) or max_test_samples (default 2·10⁶) are used (then a
        RuntimeWarning).

    Returns
    -------
    FitResult
        ``risk`` (population R/R0), ``train_risk``, ``coef``, ``settings``, ``info``.

    Raises
    ------
    ValueError
        n_samples ≤ 0, a negative ridge, a W of the wrong shape, an unknown
        regime, method or task.
    MemoryError
        When the fit would need more memory than allowed, before any allocation.

    Examples
    --------
    >>> from lazytrain import QuadraticTarget, random_weights, fit, exact_risk
    >>> task = QuadraticTarget.paper(d=10)
    >>> W = random_weights(10, 20, seed=1)
    >>> res = fit(task, "rf", W, n_samples=4000, activation="relu")
    >>> res.risk >= exact_risk(task, "rf", W, activation="relu")
    True
    """
    return fit_ridges(task, regime, W, n_samples, [ridge], activation, seed, second_layer,
                      **options)[0]


def fit_ridges(task, regime, W, n_samples, ridges, activation="quadratic", seed=0,
               second_layer=False, *, method="auto", tol=1e-10, maxiter=None, max_memory=None,
               risk_rtol=0.01, max_test_samples=2_000_000) -> list[FitResult]:
    """:func:`fit` for several ridges on the same sample, sharing one factorisation.

    Returns one :class:`FitResult` per entry of ``ridges`` (each equal to
    ``fit(..., ridge=λ)``); the SVD / eigendecomposition and the population
    moments are computed once (CG runs once per ridge), and the kernel regimes'
    Monte Carlo risks share each batch of test samples and its kernel matrix.
    """
    from .exact import check_task

    start = time.perf_counter()
    task = check_task(task)
    base, kernel = fit_regime(regime, second_layer)
    regime = check_choice("regime", regime, FIT_REGIMES)
    method = check_choice("method", method, FIT_METHODS)
    n = check_positive_int("n_samples", n_samples)
    if isinstance(ridges, (str, bytes)) or not hasattr(ridges, "__iter__"):
        raise ValueError(f"ridges must be a sequence of numbers >= 0, got {_show(ridges)}")
    lams = [_check_ridge(r) for r in ridges]
    if not lams:
        raise ValueError("ridges must hold at least one value")
    act = get_activation(activation)
    d = task.d
    if kernel:
        if W is not None:
            raise ValueError(f"W: regime {regime!r} is the infinite-width kernel limit and uses no "
                             f"weights; pass W=None, got {_show(W)}")
        N = P = None
    else:
        if W is None:
            raise ValueError(f"W must be an array of shape (N, {d}) for regime {regime!r}, got None")
        W = check_weights(W, d)
        N = W.shape[0]
    if not kernel:
        P = base.layout(N, d).size
    # choose the method, refuse up front if it (and the population moments) cannot fit in memory
    moments = moments_memory(task, regime, N, d, act, second_layer)
    chosen, _ = plan(regime, n, N or 0, d, second_layer, method, memory_limit(max_memory)[0] - moments)
    check_memory(memory_estimate(chosen, n, P or 0, N or 0, d) + moments, max_memory, f"fit(regime={regime!r}, n_samples={n}, N={N}, d={d}) with method {chosen!r}",
                 "lower n_samples or N")

    def settings(lam):
        return {"regime": regime, "n_samples": n, "ridge": lam, "activation": act.name,
                "seed": int(seed), "second_layer": bool(second_layer), "n_neurons": N, "d": d}

    X, y = task.sample(n, sample_generator(seed))
    if kernel:
        return _fit_kernel(task, regime, X, y, lams, act, settings, second_layer, risk_rtol,
                           max_test_samples, start)

    F = _Features(X, W, act, base)
    pens = [n * lam * N for lam in lams]
    if chosen == "dense":
        solved = _solve_dense(F.dense(), y, pens)
    elif chosen == "dual":
        solved = []
        for alpha, resid in _solve_gram(F.gram(), y, pens):
            beta = F.rmatvec(alpha)
            solved.append((beta, float(y.mean() - F.mean @ beta),
                           {"method": "dual", "iterations": 0, "relative_residual": resid}))
            if resid > 1e-6:
                warnings.warn(f"fit: the dual solve reached relative residual {resid:.2e} only "
                              "(an ill-conditioned Gram; a ridge > 0 helps)", RuntimeWarning,
                              stacklevel=3)
    else:
        cap = 10 * P if maxiter is None else check_positive_int("maxiter", maxiter)
        solved = [_solve_cg(F, y, pen, tol, cap) for pen in pens]
    score = PopulationRisk(task, W, act, base)
    out = []
    for lam, (beta, c, info) in zip(lams, solved):
        coef = F.layout.coef(c, beta).as_dict()   # the typed coefficients' dict view
        train = float(np.mean((y - c - F.matvec_raw(beta)) ** 2)) / task.r0
        info.update(risk_method="exact", risk_se=0.0, seconds=time.perf_counter() - start)
        out.append(FitResult(score(coef), train, coef, settings(lam), info, W, act))
    return out


def _fit_kernel(task, regime, X, y, lams, act, settings, second_layer, rtol, max_test, start):
    n = X.shape[0]
    base, _ = fit_regime(regime, second_layer)
    K = base.kernel(act, X, X)
    exact = capabilities(task, act, base).exact_predictor_risk
    fitted = []
    for alpha, resid in _solve_gram(K, y, [n * lam for lam in lams]):
        c = float(y.mean() - alpha @ K.mean(axis=1))
        fitted.append(({"offset": c, "alpha": alpha, "x": X}, resid))
    if exact:
        risks = []
        for coef, _ in fitted:
            M, const = base.kernel_quadratic_form(act, X, coef["alpha"])
            risks.append((task.predictor_risk(M, coef["offset"] + const), 0.0, None))
    else:
        def predict(x, which):
            # _predict of every ridge still running, from one test kernel matrix (the costly part)
            Kx = base.kernel(act, x, X)
            return [fitted[j][0]["offset"] + Kx @ fitted[j][0]["alpha"] for j in which]

        risks = _mc_risks(task, predict, len(lams), rtol, max_test, settings(lams[0])["seed"])
    out = []
    for lam, (coef, resid), (risk, se, used) in zip(lams, fitted, risks):
        train = float(np.mean((y - coef["offset"] - K @ coef["alpha"]) ** 2)) / task.r0
        info = {"method": "kernel", "iterations": 0, "relative_residual": resid}
        if exact:
            info.update(risk_method="exact", risk_se=0.0)
        else:
            info.update(risk_method="monte_carlo", risk_se=se, test_samples=used)
        info["seconds"] = time.perf_counter() - start
        out.append(FitResult(float(risk), train, coef, settings(lam), info, None, act))
    return out


__all__ = ["fit", "fit_ridges", "plan", "FitResult", "PopulationRisk", "population_risk", "task_moments",
           "FIT_REGIMES"]
