"""fit: RF / NT / kernel ridge on n samples, scored by the exact population risk.

Every check compares with an independent computation: Monte Carlo on fresh
samples, exact_risk (the class optimum), another solver, or a wide random-
feature average for the kernels.
"""

import math

import numpy as np
import pytest

from lazytrain import GaussianMixture, QuadraticTarget, exact_risk, fit, get_activation, random_weights
from lazytrain.kernels import kernel_matrix
from lazytrain.tasks import HermiteTarget

D = 6
_U = np.random.default_rng(11).standard_normal((2, D))
TASKS = {"quadratic": QuadraticTarget.paper(d=D), "mixture": GaussianMixture.paper(d=D, frob2=1.0),
         "hermite": HermiteTarget(_U / np.linalg.norm(_U, axis=1, keepdims=True),
                                  [[0.5, 1.0, 0.3], [0.0, 0.6, 0.0]])}
CASES = [("rf", False, 8), ("nt", False, 3), ("nt", True, 3)]


def n_params(regime, second, N):
    return N if regime == "rf" else N * D + N * second


def mc_risk(task, predict, n=200_000, seed=12345):
    x, y = task.sample(n, seed)
    e2 = (y - predict(x)) ** 2
    return e2.mean() / task.r0, e2.std() / np.sqrt(n) / task.r0


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("activation", ["quadratic", "relu", "gelu"])
@pytest.mark.parametrize("regime,second,N", CASES)
def test_risk_is_the_population_risk_of_coef(task_name, activation, regime, second, N):
    """risk = Monte Carlo risk of the returned coefficients (evaluated by hand) within 4 SE."""
    task = TASKS[task_name]
    W = random_weights(D, N, seed=3)
    res = fit(task, regime, W, 3 * n_params(regime, second, N), ridge=1e-3, activation=activation,
              seed=4, second_layer=second)
    act = get_activation(activation)
    c = res.coef["offset"]

    def by_hand(x):  # the documented predictor, from coef alone
        u = x @ W.T
        out = np.full(len(x), c)
        if "b" in res.coef:
            out += np.einsum("ni,ni->n", act.derivative(u), x @ res.coef["b"].T)
        if "a" in res.coef:
            out += act.fn(u) @ res.coef["a"]
        return out

    mc, se = mc_risk(task, by_hand)
    assert abs(res.risk - mc) <= 4 * se, (res.risk, mc, se)
    assert set(res.coef) == ({"offset", "a"} if regime == "rf" else
                             {"offset", "b", "a"} if second else {"offset", "b"})


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("activation", ["quadratic", "relu", "tanh"])
@pytest.mark.parametrize("regime,second,N", CASES)
def test_no_fit_beats_the_class_optimum_and_many_samples_reach_it(task_name, activation, regime,
                                                                  second, N):
    task = TASKS[task_name]
    W = random_weights(D, N, seed=5)
    best = exact_risk(task, regime, W, activation, second_layer=second)
    P = n_params(regime, second, N)
    for n, ridge in ((P // 2, 0.0), (P, 1e-8), (3 * P, 0.1)):
        r = fit(task, regime, W, n, ridge=ridge, activation=activation, seed=n, second_layer=second)
        assert r.risk >= best - 1e-9
    big = fit(task, regime, W, 200 * P, activation=activation, seed=7, second_layer=second)
    assert big.risk >= best - 1e-9
    assert big.risk <= 1.02 * best, (big.risk, best)


@pytest.mark.parametrize("ridge", [0.0, 1e-3])
@pytest.mark.parametrize("n", [30, 200])
def test_dense_dual_and_cg_agree(n, ridge):
    """Three solvers (SVD of the features, n×n dual from the structure, matrix-free CG) agree."""
    task = TASKS["quadratic"]
    W = random_weights(D, 7, seed=8)
    out = {m: fit(task, "nt", W, n, ridge=ridge, activation="relu", seed=9, second_layer=True,
                  method=m, tol=1e-12, maxiter=20_000) for m in ("dense", "dual", "cg")}
    ref = out["dense"]
    for m in ("dual", "cg"):
        assert out[m].info["method"] == m
        assert out[m].risk == pytest.approx(ref.risk, rel=1e-6, abs=1e-9)
        assert out[m].train_risk == pytest.approx(ref.train_risk, rel=1e-6, abs=1e-9)
        np.testing.assert_allclose(out[m].predict(np.ones((1, D))), ref.predict(np.ones((1, D))),
                                   rtol=1e-5, atol=1e-7)


def test_ridge_zero_interpolates_when_overparameterised():
    task = TASKS["quadratic"]
    W = random_weights(D, 40, seed=1)
    res = fit(task, "rf", W, 25, activation="relu", seed=2)
    assert res.train_risk < 1e-16
    assert res.risk > exact_risk(task, "rf", W, "relu")


def test_interpolation_peak_and_tuned_ridge():
    """RF ReLU, ridge 1e-8: mean risk over 5 seeds at n = N is >= 2x that at n = 4N; an oracle-tuned
    ridge removes the peak (risk at n = N no worse than at n = N/2, within 10 %)."""
    d, N = 20, 40
    task = QuadraticTarget.paper(d=d)

    def mean_risk(n, ridge):
        return np.mean([fit(task, "rf", random_weights(d, N, seed=s), n, ridge=ridge,
                            activation="relu", seed=100 + s).risk for s in range(5)])

    assert mean_risk(N, 1e-8) >= 2 * mean_risk(4 * N, 1e-8)
    grid = [1e-3, 1e-2, 3e-2, 1e-1, 3e-1]
    tuned = {n: min(mean_risk(n, lam) for lam in grid) for n in (N // 2, N, 4 * N)}
    assert tuned[N] <= 1.1 * tuned[N // 2]
    assert tuned[N] < 0.2 * mean_risk(N, 1e-8)
    assert tuned[4 * N] <= tuned[N]


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("kind", ["rf", "nt"])
def test_quadratic_kernel_risk_is_exact(task_name, kind):
    """Kernel ridge with σ = u²: the closed-form population risk equals Monte Carlo within 4 SE."""
    task = TASKS[task_name]
    res = fit(task, f"{kind}_kernel", None, 40, ridge=1e-2, activation="quadratic", seed=3)
    assert res.info["risk_method"] == "exact"
    mc, se = mc_risk(task, res.predict)
    assert abs(res.risk - mc) <= 4 * se


def test_relu_kernel_risk_is_accuracy_checked_monte_carlo():
    task = TASKS["quadratic"]
    res = fit(task, "nt_kernel", None, 60, ridge=1e-3, activation="relu", seed=3, risk_rtol=0.01)
    assert res.info["risk_method"] == "monte_carlo"
    assert res.info["risk_se"] <= 0.0101 * res.risk
    mc, se = mc_risk(task, res.predict, seed=777)
    assert abs(res.risk - mc) <= 4 * np.hypot(se, res.info["risk_se"])


@pytest.mark.parametrize("regime", ["rf_kernel", "nt_kernel"])
def test_kernel_ridges_share_the_test_sample_and_each_stops_alone(regime):
    """fit_ridges' Monte Carlo risks of kernel ridge (one test kernel matrix per batch serves every
    ridge) against the direct computation: each ridge's own predictor (FitResult.predict) on the
    test stream SeedSequence([seed, 20191906]) alone, batches of 4096 until the standard error is
    ≤ risk_rtol·risk; and against fit with that ridge alone."""
    from lazytrain.fitting import fit_ridges

    task, rtol, seed = TASKS["quadratic"], 0.03, 4
    ridges = [1e-6, 1e-2, 100.0]
    path = fit_ridges(task, regime, None, 60, ridges, activation="relu", seed=seed, risk_rtol=rtol)
    for lam, res in zip(ridges, path):
        rng = np.random.default_rng([seed, 20_191_906])
        e2 = np.empty(0)
        while True:
            x, y = task.sample(4096, rng)
            e2 = np.concatenate([e2, (y - res.predict(x)) ** 2])
            mean, se = e2.mean(), e2.std() / math.sqrt(e2.size)
            if e2.size >= 8192 and se <= rtol * mean:
                break
        assert res.info["test_samples"] == e2.size
        assert res.risk == pytest.approx(mean / task.r0, rel=1e-12)
        assert res.info["risk_se"] == pytest.approx(se / task.r0, rel=1e-6)
        assert res.info["risk_se"] <= rtol * res.risk
        alone = fit(task, regime, None, 60, ridge=lam, activation="relu", seed=seed, risk_rtol=rtol)
        assert (alone.risk, alone.info["risk_se"]) == (res.risk, res.info["risk_se"])
    assert len({res.info["test_samples"] for res in path}) > 1  # the ridges stopped at different counts


def test_kernel_ridges_warn_each_one_short_of_risk_rtol():
    """max_test_samples reached: a RuntimeWarning names the ridge's standard error; every ridge
    reports the samples it used."""
    from lazytrain.fitting import fit_ridges

    with pytest.warns(RuntimeWarning, match="relative standard error"):
        path = fit_ridges(TASKS["quadratic"], "rf_kernel", None, 30, [1e-6, 1.0], activation="relu",
                          seed=1, risk_rtol=1e-4, max_test_samples=8192)
    assert [res.info["test_samples"] for res in path] == [8192, 8192]
    assert all(res.info["risk_se"] > 1e-4 * res.risk for res in path)


@pytest.mark.parametrize("activation", ["relu", "tanh", "quadratic", "hard_tanh"])
@pytest.mark.parametrize("kind", ["rf", "nt"])
def test_kernel_matrix_is_the_wide_limit(activation, kind):
    """k(x, x') against Φ(x)ᵀΦ(x')/N averaged over N = 200 000 random neurons (4 SE)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, D))
    act = get_activation(activation)
    K = kernel_matrix(act, kind, X)
    W = random_weights(D, 200_000, seed=1)
    u = X @ W.T
    if kind == "rf":
        F = act.fn(u)
        prods = F[:, None, :] * F[None, :, :]
    else:
        F = act.derivative(u)
        prods = F[:, None, :] * F[None, :, :] * (X @ X.T)[:, :, None]
    mean, se = prods.mean(axis=2), prods.std(axis=2) / np.sqrt(u.shape[1])
    assert np.all(np.abs(K - mean) <= 4 * se + 1e-12)


def test_series_kernel_matches_quadrature():
    """The kernel of a smooth σ (Mehler series where its tail bound meets tol) against the
    activation's 2-D quadrature on every off-diagonal pair, with a strongly correlated pair."""
    from lazytrain.activations.quadrature import quadrature_pairs
    from lazytrain.kernels import _geometry

    act = get_activation("tanh")
    X = np.random.default_rng(1).standard_normal((5, D))
    X[1] = X[0] + 0.05 * X[1]
    q1, q2, rho, sin = _geometry(X, X)
    off = ~np.eye(len(X), dtype=bool)
    quad = {o: np.full(rho.shape, np.nan) for o in ((0, 0), (1, 1))}
    quadrature_pairs(act, q1, rho, off, list(quad), quad, q2=q2, sin=sin)
    for order, kind in (((0, 0), "rf"), ((1, 1), "nt")):
        ref = quad[order] * (X @ X.T) if kind == "nt" else quad[order]
        np.testing.assert_allclose(kernel_matrix(act, kind, X)[off], ref[off], rtol=1e-10, atol=1e-12)


def test_wide_rf_approaches_the_kernel_fit():
    """RF with N = 3000 neurons (3 draws of W) against its N → ∞ limit, kernel ridge (same λ)."""
    task = TASKS["quadratic"]
    kern = fit(task, "rf_kernel", None, 30, ridge=0.1, activation="quadratic", seed=5)
    wide = [fit(task, "rf", random_weights(D, 3000, seed=s), 30, ridge=0.1, activation="quadratic",
                seed=5).risk for s in range(3)]
    assert np.mean(wide) == pytest.approx(kern.risk, rel=0.05)


@pytest.mark.parametrize("bad,match", [
    ({"n_samples": 0}, "n_samples"),
    ({"n_samples": -5}, "n_samples"),
    ({"n_samples": 2.5}, "n_samples"),
    ({"ridge": -1e-3}, "ridge"),
    ({"ridge": float("nan")}, "ridge"),
    ({"W": np.ones((3, D + 1))}, "W"),
    ({"W": np.ones(D)}, "W"),
    ({"regime": "nn"}, "regime"),
    ({"method": "lu"}, "method"),
    ({"regime": "rf", "second_layer": True}, "second_layer"),
])
def test_bad_input(bad, match):
    args = {"task": TASKS["quadratic"], "regime": "nt", "W": random_weights(D, 3, seed=0),
            "n_samples": 10, **bad}
    with pytest.raises(ValueError, match=match):
        fit(**args)


def test_memory_refused_up_front():
    task = QuadraticTarget.paper(d=50)
    W = random_weights(50, 1000, seed=0)
    with pytest.raises(MemoryError, match="n_samples"):
        fit(task, "nt", W, 10**12)  # would need petabytes: refused before drawing anything
    with pytest.raises(MemoryError, match="max_memory"):
        fit(task, "nt", W, 1000, max_memory=10**6)


@pytest.mark.parametrize("regime,n", [("nt", 25), ("rf", 40)])
def test_fit_ridges_against_an_independent_least_squares_solve(regime, n):
    """Each ridge of fit_ridges (and fit) against numpy's lstsq on the same features and samples:
    min (1/n)Σ(y − c − βᵀφ)² + λN‖β‖², written as the stacked system [Φc; √(nλN) I] β = [yc; 0]
    with centred Φc, yc (the free offset); λ = 0 is the minimum-norm solution (P > n for NT)."""
    from lazytrain.exact.general import nt_features, rf_features
    from lazytrain.fitting import fit_ridges, sample_generator

    task, act = TASKS["mixture"], get_activation("relu")
    N = 5
    W = random_weights(D, N, seed=2)
    ridges = [0.0, 1e-4, 1e-1]
    path = fit_ridges(task, regime, W, n, ridges, activation=act, seed=3)
    X, y = task.sample(n, sample_generator(3))
    phi = rf_features if regime == "rf" else nt_features
    Phi = phi(X, W, act)
    Pc, yc = Phi - Phi.mean(axis=0), y - y.mean()
    x_test = np.random.default_rng(5).standard_normal((200, D))
    for lam, res in zip(ridges, path):
        A = np.vstack([Pc, math.sqrt(n * lam * N) * np.eye(Pc.shape[1])]) if lam else Pc
        beta = np.linalg.lstsq(A, np.concatenate([yc, np.zeros(A.shape[0] - n)]), rcond=None)[0]
        c = y.mean() - Phi.mean(axis=0) @ beta
        np.testing.assert_allclose(res.predict(x_test), c + phi(x_test, W, act) @ beta, rtol=1e-7, atol=1e-9)
        assert res.settings["ridge"] == lam
        assert fit(task, regime, W, n, ridge=lam, activation=act, seed=3).risk == res.risk


@pytest.mark.parametrize("task_name", list(TASKS))
def test_y_mean_is_the_mean_of_the_labels(task_name):
    task = TASKS[task_name]
    _, y = task.sample(400_000, 5)
    assert abs(task.y_mean - y.mean()) <= 4 * y.std() / np.sqrt(y.size)
    off = QuadraticTarget(np.diag([1.0, -0.5, 2.0]), offset=0.7)
    _, y = off.sample(400_000, 6)
    assert off.y_mean == pytest.approx(3.2) and abs(off.y_mean - y.mean()) <= 4 * y.std() / np.sqrt(y.size)


def test_auto_goes_matrix_free_when_the_features_do_not_fit(monkeypatch):
    """With memory for the n×n dual but not for the n×P features, 'auto' never forms them; past the
    dual's sample limit it runs CG; all three give the dense answer."""
    import lazytrain.fitting as fitmod

    task = TASKS["quadratic"]
    W = random_weights(D, 60, seed=4)  # P = 360 NT parameters, n < P < 2n
    n = 190
    dense = fit(task, "nt", W, n, ridge=1e-3, activation="relu", seed=1, method="dense")
    moments = fitmod.moments_memory(task, "nt", 60, D, "relu")
    budget = fitmod.memory_estimate("dual", n, 360, 60, D) + moments + 1
    assert budget < fitmod.memory_estimate("dense", n, 360, 60, D) + moments
    dual = fit(task, "nt", W, n, ridge=1e-3, activation="relu", seed=1, max_memory=budget)
    monkeypatch.setattr(fitmod, "DUAL_MAX_SAMPLES", 100)
    cg = fit(task, "nt", W, n, ridge=1e-3, activation="relu", seed=1, max_memory=budget)
    assert (dual.info["method"], cg.info["method"]) == ("dual", "cg")
    assert cg.info["relative_residual"] <= 1e-9
    for res in (dual, cg):
        assert res.risk == pytest.approx(dense.risk, rel=1e-7)
