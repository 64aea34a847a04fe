"""One-pass SGD for RF, NT and NN (docs/reproduction.md): a fresh batch every step."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
import torch
from tqdm.auto import tqdm

from ..regimes import capabilities
from ..weights import random_weights
from .config import TrainConfig
from .models import MODELS, make_model
from .result import History, TrainResult

#: Risk (normalised, the trivial predictor has 1) above which a run counts as diverged.
BLOWUP = 100.0
#: Steps between two checks for NaN / blow-up.
CHECK_EVERY = 100
#: Below this many flops per step the loop runs on one CPU thread (see ``cpu_threads``).
SMALL_STEP_FLOPS = 2e7


@contextmanager
def cpu_threads(device, flops_per_step):
    """Use one torch thread for small CPU steps, then restore the setting.

    Thread start-up and synchronisation cost more than they save on small
    products, and on a busy machine much more: at d = 60 (ΣN = 330, 1.3e7
    flops per step) one thread took 3 ms per step and two took 105 ms on the
    shared, loaded 2-core machine (docs/performance.md).
    """
    if torch.device(device).type != "cpu" or flops_per_step >= SMALL_STEP_FLOPS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def stream_seed(seed: int, stream: int) -> int:
    """Independent 63-bit seed for one random stream of a run (0: data, 1: a0, 2: test set)."""
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def initial_signs(seed: int, n: int, law: str = "signs") -> np.ndarray:
    """a0_i = ±1 with equal probability (the same prefix for every width); all +1 for law 'ones'."""
    if law == "ones":
        return np.ones(n)
    return np.where(np.random.default_rng(stream_seed(seed, 1)).random(n) < 0.5, -1.0, 1.0)


def schedule_factors(steps: int, schedule) -> np.ndarray:
    """Step-size factor of every step for a piecewise-constant schedule.

    ``schedule`` is a sequence of (fraction of the steps, factor); e.g. the
    authors' NN script: ((0.7, 1), (0.15, 1/10), (0.15, 1/15)).
    """
    fracs = np.array([f for f, _ in schedule], dtype=float)
    ends = np.round(np.cumsum(fracs) / fracs.sum() * steps).astype(int)
    out = np.empty(steps)
    start = 0
    for end, (_, factor) in zip(ends, schedule):
        out[start:end] = factor
        start = end
    return out


def checkpoints(steps: int, n_history: int) -> np.ndarray:
    """Record points: 0, ~n_history geometric and ~n_history evenly spaced steps, and the last."""
    geo = np.geomspace(1, steps, n_history) if steps > 1 else np.array([1.0])
    lin = np.linspace(0, steps, n_history + 1)
    return np.unique(np.concatenate([[0, steps], np.round(geo), np.round(lin)]).astype(int))


@torch.no_grad()
def stable_scale(task, cfg: TrainConfig, batch=2000, iters=30) -> float:
    """The factor f such that the step sizes f·lrs are stable at the initial weights.

    One SGD step on a fixed batch maps the parameters θ to θ − Δ(θ), Δ = lr·P·∇L
    (P: the mean-field step multipliers). Gradient descent is stable when the
    largest eigenvalue λ of the Jacobian of Δ (lr·P·H) is below 2; λ is found by
    power iteration on finite differences of Δ (float64, a batch of ``batch``
    fresh samples). f = 1/λ: half the stability limit, since the curvature grows
    as the network learns (measured in the tests: training with f·lr converges
    where lr diverged). The estimate uses the regime without the lazy scaling, with ±1 signs
    for a0, plain steps (no preconditioner) and cfg.lr (not the lazy step).
    """
    seed, widths = cfg.seed, cfg.widths
    weights = [random_weights(task.d, n, seed=seed) for n in widths]
    a0_full = initial_signs(seed, max(widths))
    nets = make_model(cfg.name, cfg.activation, weights, [a0_full[:n] for n in widths], cfg.lr,
                      shared_a=cfg.shared_a, second_layer=cfg.second_layer,
                      offset_mult=cfg.offset_mult, device="cpu", dtype=torch.float64)
    gen = torch.Generator()
    gen.manual_seed(stream_seed(seed, 3))
    x, y = task.sample_torch(batch, gen, "cpu", torch.float64)
    params = nets.parameters()
    theta = {k: t.clone() for k, t in params.items()}

    def delta(v, h):
        for k, t in params.items():
            t.copy_(theta[k] + h * v[k])
        nets.step(x, y, 1.0)
        out = {k: (theta[k] + h * v[k]) - t for k, t in params.items()}
        for k, t in params.items():
            t.copy_(theta[k])
        return out

    def norm(v):
        return math.sqrt(sum(float((t * t).sum()) for t in v.values()))

    base = delta({k: torch.zeros_like(t) for k, t in theta.items()}, 0.0)
    g = torch.Generator()
    g.manual_seed(stream_seed(seed, 4))
    v = {k: torch.randn(t.shape, generator=g, dtype=torch.float64) for k, t in theta.items()}
    lam = 0.0
    for _ in range(iters):
        n = norm(v)
        if not n > 0:
            break
        v = {k: t / n for k, t in v.items()}
        h = 1e-4 * max(1.0, norm(theta))
        moved = delta(v, h)
        v = {k: (moved[k] - base[k]) / h for k in v}
        lam = norm(v)
    if not math.isfinite(lam) or lam <= 0:
        return 0.1
    return 1.0 / lam


def _diverged(lr, regime, widths, step, value, stable=None):
    lrs = ", ".join(f"{x:.3g}" for x in np.unique(lr))
    if stable is not None:
        hint = (f"e.g. lr = {float(np.min(lr)) * stable:.3g}: half the largest step for which "
                "gradient descent is stable at the initial weights (curvature estimated on a "
                "batch)")
    else:
        hint = f"e.g. lr = {float(np.min(lr)) / 4:.3g}"
    return ValueError(
        f"SGD diverged (regime {regime!r}, N = {widths}, step {step}: risk = {value:.3g}) "
        f"with lr = {lrs}; use a smaller step size, {hint}"
    )


def run_sgd(task, cfg: TrainConfig):
    """Train one network per width on a shared sample stream; one TrainResult per width.

    On divergence the ValueError suggests a step size from the curvature at the
    initial weights (:func:`stable_scale`), or lr/4 if even that estimate fails.
    """
    products = MODELS[type(cfg.regime)].products
    with cpu_threads(cfg.device, 2 * products * cfg.batch_size * task.d * sum(cfg.widths)):
        try:
            return _run_sgd(task, cfg)
        except _Diverged as exc:
            try:
                stable = min(stable_scale(task, cfg), 0.5)  # always a smaller step than the one that diverged
            except Exception:  # noqa: BLE001 - the hint is a courtesy; report the divergence
                stable = None
            raise _diverged(*exc.args, stable=stable) from None


class _Diverged(Exception):
    """Internal: carries (lrs, regime, widths, step, value) out of the loop."""


def _run_sgd(task, cfg: TrainConfig):
    d, widths, seed, regime, lrs, alphas = task.d, cfg.widths, cfg.seed, cfg.name, cfg.lr, cfg.alpha
    steps, batch_size, device, dtype = cfg.steps, cfg.batch_size, cfg.device, cfg.param_dtype
    weights = [random_weights(d, n, seed=seed) for n in widths]
    a0_full = initial_signs(seed, max(widths), cfg.a0)
    steps_lr = cfg.step_lrs
    a0s = [a0_full[:n] for n in widths]
    pre = gram_preconditioners(weights, a0s) if cfg.precondition else None
    nets = make_model(cfg.regime, cfg.activation, weights, a0s, steps_lr, alpha=alphas,
                      offset_mult=cfg.offset_mult, device=device, dtype=dtype, tangent_preconditioner=pre,
                      matmul_dtype=cfg.matmul_dtype)
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, 0))
    # a quadratic-activation network is c + xᵀMx: exact risk when the task has predictor_risk
    exact = bool(capabilities(task, cfg.activation, cfg.regime).exact_predictor_risk)
    factors = schedule_factors(steps, cfg.schedule)
    times = np.concatenate([[0.0], np.cumsum(factors)])  # in units of the base lr
    marks = set(checkpoints(steps, cfg.n_history).tolist())
    recorded = {"steps": [], "risk": [], "weight_change": []}
    r0 = float(task.r0)

    def exact_risks():
        return [task.predictor_risk(*nets.quadratic_form(k)) for k in range(nets.K)]

    def record(step, window_steps):
        if exact:
            risks = exact_risks()
        else:
            risks = (nets.loss_sum / (max(window_steps, 1) * batch_size * r0)).tolist()
        nets.loss_sum.zero_()
        bad = [x for x in risks if not math.isfinite(x) or x > BLOWUP]
        if bad:
            raise _Diverged(lrs, regime, widths, step, bad[0])
        recorded["steps"].append(step)
        recorded["risk"].append(risks)
        recorded["weight_change"].append(nets.weight_changes())

    averager = TailAverage(nets.parameters(), steps, cfg.average)
    start = time.perf_counter()
    if exact:
        record(0, 0)
    last_mark, since_check = 0, 0
    bar = tqdm(total=steps, disable=not cfg.progress, desc=f"SGD {regime} N={_short(widths)}",
               unit="step", mininterval=0.5, leave=False)
    for step in range(steps):
        x, y = task.sample_torch(batch_size, gen, device, dtype)
        nets.step(x, y, float(factors[step]))
        done = step + 1
        averager.add(done)
        since_check += 1
        if since_check == CHECK_EVERY:
            window = done - last_mark
            mean = float(nets.loss_sum.max()) / (window * batch_size * r0)
            if not math.isfinite(mean) or mean > BLOWUP:
                raise _Diverged(lrs, regime, widths, done, mean)
            bar.update(since_check)
            since_check = 0
        if done in marks:
            record(done, done - last_mark)
            last_mark = done
    bar.update(since_check)
    bar.close()
    if averager.apply():
        nets.refresh()
        if exact:  # the last record is the returned network: the average
            recorded["risk"][-1] = exact_risks()
            recorded["weight_change"][-1] = nets.weight_changes()
    if not nets.is_finite():
        raise _Diverged(lrs, regime, widths, steps, float("nan"))
    if exact:
        final = [(x, "exact", 0.0) for x in recorded["risk"][-1]]
    else:
        final = monte_carlo_risks(task, nets, cfg.n_test, stream_seed(seed, 2), device, dtype)
        bad = [m for m, _, _ in final if not math.isfinite(m) or m > BLOWUP]
        if bad:
            raise _Diverged(lrs, regime, widths, steps, bad[0])
    wall = time.perf_counter() - start

    risk_hist = np.array(recorded["risk"], dtype=float)
    step_hist = np.array(recorded["steps"], dtype=int)
    change_hist = np.array(recorded["weight_change"], dtype=float)
    final_change = nets.weight_changes()
    settings = cfg.settings(task)
    out = []
    for k, n in enumerate(widths):
        params = nets.numpy_params(k)
        change = float(final_change[k])
        hist = History(steps=step_hist, samples=step_hist * batch_size,
                       time=times[step_hist] * float(steps_lr[k]), risk=risk_hist[:, k],
                       kind="exact" if exact else "online", weight_change=change_hist[:, k])
        risk, method, se = final[k]
        out.append(TrainResult(risk=float(risk), risk_method=method, risk_se=float(se), history=hist,
                               params=params, settings=dict(settings, n_neurons=n, lr=float(lrs[k]),
                                             **({} if alphas is None else {"alpha": float(alphas[k])})),
                               wall_time=wall, weight_change=change,
                               alpha=None if alphas is None else float(alphas[k]),
                               quadratic_form=nets.quadratic_form(k) if exact else None))
    return out


#: Eigenvalues of the normalised neuron Gram below this are its null space (N > d).
NULL_EIGENVALUE = 1e-9


def gram_preconditioners(weights, a0s, delta: float = 1e-3) -> list:
    """NT: P_k = (S_k/m_k + δI)^-1 for each network, applied to every step of its tangent weights G.

    S = A W Wᵀ A (A = diag(a0)) is the Gram of the neurons, m = Tr S/N its mean
    eigenvalue. For σ = u² and Gaussian inputs plain SGD moves the error
    E = M − M* of the quadratic form c + xᵀMx as E ← E − (8ε/N)(KE + EK),
    K = WᵀW: the component of E on the eigenvectors j, l of K decays at a rate
    ∝ k_j + k_l, and K is ill-conditioned for N near d (Marchenko–Pastur; at
    N = d its smallest eigenvalues are ~1/d²). With P the rates become
    ∝ k_j/(k_j + δm) + k_l/(k_l + δm), i.e. 1 or 2 except on the few
    eigenvalues below δm. This is plain SGD on the same tangent class in the
    parametrisation G = P^(1/2) G̃ (a fixed linear map of the parameters), so
    the optimum, and the exact risk it is compared with, do not change.
    For N > d the Gram's null space (eigenvalues below ``NULL_EIGENVALUE``
    relative to m) is left as it is (P = I there). The matrices go to
    :class:`~lazytrain.train.models.NTModel` (``tangent_preconditioner``), which applies them inside
    the step.
    """
    out = []
    for W, a0 in zip(weights, a0s):
        S = (a0[:, None] * W) @ (W * a0[:, None]).T
        lam, V = np.linalg.eigh(S / (np.trace(S) / len(a0)))
        # N > d: S has a null space (combinations of neurons that leave the model unchanged
        # for σ = u², whose gradient is 0); P is the identity there, not 1/δ
        out.append((V * np.where(lam > NULL_EIGENVALUE, 1.0 / (lam + delta), 1.0)) @ V.T)
    return out


class TailAverage:
    """Polyak–Ruppert tail averaging: the mean of the iterates of the last ``fraction`` of the steps.

    For least squares (RF and NT are linear in their parameters) constant-step
    SGD followed by the average of its iterates over a tail of the run removes
    most of the variance the step leaves (Jain, Kakade, Kidambi, Netrapalli &
    Sidford, arXiv 1610.03774), so a larger step can be used for the bias.
    The sums are kept in float64, per parameter tensor (stacked widths, any
    device); :meth:`apply` writes the means into the parameters.
    """

    def __init__(self, params: dict, steps: int, fraction: float):
        self.params = params
        self.count = int(round(fraction * steps))
        self.first = steps - self.count + 1  # the first step (1-based, after the update) averaged
        self.sums = ({k: torch.zeros(t.shape, dtype=torch.float64, device=t.device)
                      for k, t in params.items()} if self.count > 0 else None)

    def add(self, done: int) -> None:
        """Add the iterate after step ``done`` (1-based) if it lies in the tail."""
        if self.sums is not None and done >= self.first:
            for k, t in self.params.items():
                self.sums[k].add_(t)

    def apply(self) -> bool:
        """Replace the parameters by the tail means; False when no averaging was asked for."""
        if self.sums is None:
            return False
        for k, t in self.params.items():
            t.copy_(self.sums[k] / self.count)
        return True


def _short(widths):
    return str(widths[0]) if len(widths) == 1 else f"{widths[0]}..{widths[-1]}"


@torch.no_grad()
def monte_carlo_risks(task, nets, n_test, seed, device, dtype, chunk=8192):
    """Normalised risk of each network on n_test fresh samples: [(mean, 'monte_carlo', se)]."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    s1 = torch.zeros(nets.K, dtype=torch.float64, device=device)
    s2 = torch.zeros_like(s1)
    done = 0
    while done < n_test:
        m = min(chunk, n_test - done)
        x, y = task.sample_torch(m, gen, device, dtype)
        err = (nets.predict(x) - y[:, None]).to(torch.float64) ** 2
        s1 += err.sum(dim=0)
        s2 += (err * err).sum(dim=0)
        done += m
    r0 = float(task.r0)
    mean = s1 / n_test
    var = (s2 / n_test - mean**2).clamp_min(0) * n_test / max(n_test - 1, 1)
    se = (var / n_test).sqrt()
    return [(float(a) / r0, "monte_carlo", float(b) / r0) for a, b in zip(mean, se)]
