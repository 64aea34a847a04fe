"""Population gradient flow for quadratic-activation networks (docs/reproduction.md).

Gradient descent on the closed-form population risk of the NN model
f(x) = c + (1/N) Σ_i a_i σ(⟨w_i, x⟩), σ(u) = p2 u² + p0, i.e. of the quadratic
form c + p0 ā + xᵀMx with M = (p2/N) Σ_i a_i w_i w_iᵀ. No sampling: it is the
ε → 0 limit of one-pass SGD (time t = ε·steps), with the same initial point
(W = random_weights(d, N, seed), a = 0 shared or a_i = ±1, c = 0) and
the same mean-field multipliers (W and per-neuron a_i × N, shared a and c × 1).

With G = ∂R/∂M and g_c = ∂R/∂c from ``task.predictor_risk_grad(M, c)``:

    ∂R/∂w_i = (2 p2 a_i / N) G w_i,
    ∂R/∂a_i = (p2 / N) w_iᵀ G w_i + (p0 / N) g_c,
    ∂R/∂c   = g_c.

The task method is all the flow needs, so any task with a closed-form risk
for quadratic predictors (QuadraticTarget, GaussianMixture) gets the flow.
The time step adapts: a step that raises the risk is undone and the step
halved; each accepted step lets it grow by 2 % (up to 64 × lr).
"""

from __future__ import annotations

import time

import numpy as np

from ..weights import random_weights
from .result import History, TrainResult
from .sgd import checkpoints, initial_signs


def run_flow(task, act, n_neurons, *, steps, lr, seed, shared_a, n_history, settings, a0="signs"):
    p0, _, p2 = act.poly
    N = n_neurons
    W0 = random_weights(task.d, N, seed=seed)
    W = W0.copy()
    if shared_a:
        a = np.zeros(1)
    else:
        a = initial_signs(seed, N, a0)
    c = 0.0

    def evaluate(W, a, c):
        aw = np.broadcast_to(a, (N,))
        M = (p2 / N) * (W.T @ (W * aw[:, None]))
        risk, G, gc = task.predictor_risk_grad(M, None)   # offset at its optimum
        GW = W @ G                                     # row i: (G w_i)ᵀ
        gW = (2 * p2) * aw[:, None] * GW               # N · ∂R/∂w_i
        ga = p2 * np.einsum("ij,ij->i", W, GW) + p0 * gc  # N · ∂R/∂a_i
        if shared_a:
            ga = np.array([ga.sum() / N])              # ∂R/∂a
        return risk, gW, ga, gc

    marks = set(checkpoints(steps, n_history).tolist())
    start = time.perf_counter()
    risk, gW, ga, gc = evaluate(W, a, c)
    dt, t = lr, 0.0
    rec_steps, rec_time, rec_risk = [0], [0.0], [risk]
    step = 0
    while step < steps:
        W_new, a_new, c_new = W - dt * gW, a - dt * ga, c - dt * gc
        new = evaluate(W_new, a_new, c_new)
        if not np.isfinite(new[0]) or new[0] > risk:
            dt /= 2
            if dt < lr * 1e-9:
                break  # at a stationary point to rounding
            continue
        t += dt
        W, a, c = W_new, a_new, c_new
        risk, gW, ga, gc = new
        dt = min(dt * 1.02, 64 * lr)
        step += 1
        if step in marks:
            rec_steps.append(step)
            rec_time.append(t)
            rec_risk.append(risk)
    wall = time.perf_counter() - start
    if rec_steps[-1] != step:
        rec_steps.append(step)
        rec_time.append(t)
        rec_risk.append(risk)
    hist = History(steps=np.array(rec_steps), samples=None, time=np.array(rec_time),
                   risk=np.array(rec_risk), kind="exact")
    params = {"W": W, "a": a[0].copy() if shared_a else a, "c": float(c)}
    change = float(np.linalg.norm(W - W0) / np.linalg.norm(W0))
    return TrainResult(risk=float(risk), risk_method="exact", risk_se=0.0, history=hist, params=params,
                       settings=dict(settings, n_neurons=N, lr=float(lr)), wall_time=wall,
                       weight_change=change)
