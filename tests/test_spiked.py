"""Spiked covariates against independent computations: the sampled law against ``components``
(standard errors), cross moments against Monte Carlo, exact risks against least squares on samples,
the NN optimum against Eckart-Young on Σ^{1/2}BΣ^{1/2} written out here, κ = 0 against the
isotropic task with the target padded by zeros, and the NT theory against exact risks."""

import math

import numpy as np
import pytest

from conftest import mc
from lazytrain import (HermiteTarget, QuadraticTarget, SpikedCovariates, exact_risk, get_activation,
                       random_weights, theory_risk)
from lazytrain.exact.general import NTGram, lazy_solution, nt_features, rf_covariance, rf_features

torch = pytest.importorskip("torch")


def quadratic_target(rng, s):
    A = rng.standard_normal((s, s))
    return QuadraticTarget((A + A.T) / (2 * math.sqrt(s)) + np.diag(rng.exponential(1.0, s)) / math.sqrt(s))


def hermite_target(rng, s):
    Q, _ = np.linalg.qr(rng.standard_normal((s, 2)))
    return HermiteTarget(Q.T, [[0.5, 1.0, 0.4], [0.0, -0.7, 0.3]])


TARGETS = {"quadratic": quadratic_target, "hermite": hermite_target}


@pytest.fixture(params=list(TARGETS))
def task(rng, request):
    return SpikedCovariates(9, 3, 0.6, TARGETS[request.param](rng, 3))


def x_coordinate_matrix(task):
    """The quadratic target's matrix in x: y = b0 + xᵀB_x x with B_x = B padded / d^κ (by hand)."""
    s, d = task.signal_dim, task.d
    Bx = np.zeros((d, d))
    Bx[:s, :s] = task.target_task.B / d**task.kappa
    return Bx


# ---------------------------------------------------------------- the law
def test_sampled_second_moments_match_components_within_standard_errors(task, rng):
    """E x xᵀ entrywise against the component's Σ (5 SE), E y and E y² against y_mean and r0."""
    (comp,) = task.components
    d = task.d
    iu = np.triu_indices(d)
    mean, se = mc(lambda x, y: np.column_stack([(x[:, :, None] * x[:, None, :])[:, iu[0], iu[1]], x, y, y * y]),
                  task, 200_000, rng)
    nq = len(iu[0])
    z = np.abs(mean[:nq] - comp.cov_matrix(d)[iu]) / se[:nq]
    assert z.max() < 5, z.max()
    assert np.abs(mean[nq:nq + d] / se[nq:nq + d]).max() < 5  # centred
    assert abs(mean[-2] - task.y_mean) < 5 * se[-2]
    assert abs(mean[-1] - task.y_mean**2 - task.r0) < 5 * se[-1]
    np.testing.assert_allclose(comp.cov[:4], [d**0.6] * 3 + [1.0])


def test_sample_is_the_target_and_torch_has_the_same_law(task, rng):
    x, y = task.sample(500, rng)
    z = x.copy()
    z[:, :3] /= task.d ** (task.kappa / 2)
    np.testing.assert_allclose(y, task.target_task.target(z[:, :3]), rtol=1e-12, atol=1e-12)
    gen = torch.Generator().manual_seed(2)
    xt, yt = task.sample_torch(200_000, gen, dtype=torch.float64)
    xt, yt = xt.numpy(), yt.numpy()
    np.testing.assert_allclose(yt, task.target(xt), rtol=1e-10, atol=1e-10)
    var = task.components[0].cov
    se = var * math.sqrt(2 / len(xt))
    assert (np.abs((xt * xt).mean(axis=0) - var) / se).max() < 5


# ---------------------------------------------------------------- cross moments and exact risks
@pytest.mark.parametrize("name", ["quadratic", "relu", "gelu"])
def test_cross_moments_against_monte_carlo(task, rng, name):
    act = get_activation(name)
    W = random_weights(task.d, 3, seed=7) * np.array([[1.0], [1.6], [0.7]])
    rf, nt = task.cross_moments(W, act)

    def sample(x, y):
        yc = (y - task.y_mean)[:, None]
        return np.column_stack([yc * rf_features(x, W, act), yc * nt_features(x, W, act)])

    mean, se = mc(sample, task, 300_000, rng)
    got = np.concatenate([rf, nt.ravel()])
    z = np.abs(mean - got) / np.maximum(se, 1e-12)
    assert z.max() < 5, (name, z.max())
    assert np.abs(got).max() > 0.05


@pytest.mark.parametrize("name", ["quadratic", "relu"])
@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_exact_risk_against_least_squares(rng, name, regime):
    """d = 8: the exact optimum on fresh samples has the exact risk (4 SE); a least-squares fit on
    100k samples does no better (paired difference) and only O(p/n) worse."""
    d, N, n = 8, 5 if regime == "nt" else 16, 100_000
    task = SpikedCovariates(d, 3, 0.8, quadratic_target(rng, 3))
    act = get_activation(name)
    W = random_weights(d, N, seed=5)
    sol = lazy_solution(task, regime, W, act, method="dense")
    exact = exact_risk(task, regime, W, act)
    assert abs(sol.risk - exact) < 1e-8  # the closed form (σ = u²) or the general solver
    assert 0.02 < exact < 0.999
    if regime == "rf":
        features = lambda x: rf_features(x, W, act)  # noqa: E731
        m = rf_covariance(act, W, task.components)[1]
    else:
        features = lambda x: nt_features(x, W, act)  # noqa: E731
        m = NTGram(act, W, task.components).mean_vec.ravel()
    c_opt = task.y_mean - sol.coef @ m
    x, y = task.sample(n, rng)
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(n), features(x)]), y, rcond=None)
    xt, yt = task.sample(n, rng)
    Ft = features(xt)
    e_opt = (yt - c_opt - Ft @ sol.coef) ** 2 / task.r0
    e_fit = (yt - coef[0] - Ft @ coef[1:]) ** 2 / task.r0
    se = e_opt.std() / math.sqrt(n)
    assert abs(e_opt.mean() - exact) < 4 * se, (e_opt.mean(), exact, se)
    diff = e_fit - e_opt
    se_diff = diff.std() / math.sqrt(n)
    assert -4 * se_diff < diff.mean() < 4 * se_diff + 3 * (Ft.shape[1] + 1) / n


@pytest.mark.parametrize("name", ["quadratic", "relu", "gelu"])
def test_general_solver_sees_the_covariance_as_the_isotropic_task_at_w_sigma_half(rng, name):
    """RF/NT/NT + second layer of the spiked task (general solver, Σ in the Gram) equal those of the
    padded isotropic target at W̃ = WΣ^{1/2} (Σ = I in the Gram): two different Grams, one risk."""
    task = SpikedCovariates(12, 4, 0.7, quadratic_target(rng, 4))
    W = random_weights(12, 10, seed=3)
    Wt = W * np.sqrt(task.components[0].cov)
    for regime, second in (("rf", False), ("nt", False), ("nt", True)):
        a = exact_risk(task, regime, W, name, closed_form=False, second_layer=second, method="dense")
        b = exact_risk(task.isotropic, regime, Wt, name, closed_form=False, second_layer=second,
                       method="dense")
        assert 0.0 < a < 1.0
        assert a == pytest.approx(b, abs=1e-9), (regime, second)


# ---------------------------------------------------------------- κ = 0 is the isotropic task
@pytest.mark.parametrize("name", ["quadratic", "relu"])
def test_kappa_zero_is_the_isotropic_task_with_the_target_padded(rng, name):
    d, s = 10, 4
    target = quadratic_target(rng, s)
    task = SpikedCovariates(d, s, 0.0, target)
    B = np.zeros((d, d))
    B[:s, :s] = target.B
    iso = QuadraticTarget(B, offset=target.offset)
    W = random_weights(d, 7, seed=1)
    for regime in ("rf", "nt"):
        for closed in (True, False):
            a = exact_risk(task, regime, W, name, closed_form=closed)
            b = exact_risk(iso, regime, W, name, closed_form=closed)
            assert abs(a - b) < 1e-10, (regime, closed)
    assert abs(task.nn_risk(3) - iso.nn_risk(3)) < 1e-10
    M = rng.standard_normal((d, d))
    assert abs(task.predictor_risk(M, 0.3) - iso.predictor_risk(M, 0.3)) < 1e-10
    assert task.r0 == pytest.approx(iso.r0, rel=1e-12)


# ---------------------------------------------------------------- NN optimum and c + xᵀMx
def gaussian_risk(Bx, b0, M, c, Sigma):
    """E(b0 + xᵀB_x x − c − xᵀMx)² under N(0, Σ), written out: (b0 − c + Tr ΣD)² + 2 Tr(ΣDΣD)."""
    D = Bx - (M + M.T) / 2
    return (b0 - c + np.trace(Sigma @ D)) ** 2 + 2 * np.trace(Sigma @ D @ Sigma @ D)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.2])
def test_nn_optimum_is_eckart_young_on_sigma_half_b_sigma_half(rng, kappa):
    d, s = 9, 5
    task = SpikedCovariates(d, s, kappa, quadratic_target(rng, s))
    Bx, b0 = x_coordinate_matrix(task), task.target_task.offset
    Sigma = task.components[0].cov if kappa else np.ones(d)
    root = np.sqrt(Sigma)
    A = root[:, None] * Bx * root[None, :]
    lam, V = np.linalg.eigh(A)
    order = np.argsort(-np.abs(lam))
    for n in (1, 2, 4, 5):
        keep = order[:n]
        M = (V[:, keep] * lam[keep]) @ V[:, keep].T / root[:, None] / root[None, :]
        c = b0 + np.sum(Sigma * np.diag(Bx - M))  # the optimal offset: the trace term vanishes
        best = gaussian_risk(Bx, b0, M, c, np.diag(Sigma)) / task.r0
        assert task.nn_risk(n) == pytest.approx(best, abs=1e-12)
        assert task.predictor_risk(M, c) == pytest.approx(best, abs=1e-12)
        for _ in range(5):  # any other rank-n form does worse
            R = rng.standard_normal((d, n))
            other = R @ np.diag(rng.standard_normal(n)) @ R.T
            assert task.predictor_risk(other) > best
    assert task.nn_risk(5) == pytest.approx(0.0, abs=1e-12)


def test_predictor_risk_against_monte_carlo_and_its_gradient(task, rng):
    d = task.d
    M = rng.standard_normal((d, d)) / d
    M = (M + M.T) / 2
    c = 0.2
    mean, se = mc(lambda x, y: (y - c - np.einsum("ni,ij,nj->n", x, M, x)) ** 2, task, 300_000, rng)
    assert abs(mean / task.r0 - task.predictor_risk(M, c)) < 5 * se / task.r0
    risk, gM, gc = task.predictor_risk_grad(M, c)
    assert risk == pytest.approx(task.predictor_risk(M, c), rel=1e-12)
    E = rng.standard_normal((d, d))
    E = (E + E.T) / 2
    h = 1e-6
    fd = (task.predictor_risk(M + h * E, c) - task.predictor_risk(M - h * E, c)) / (2 * h)
    assert fd == pytest.approx(np.sum(gM * E), abs=1e-6)
    assert (task.predictor_risk(M, c + h) - task.predictor_risk(M, c - h)) / (2 * h) == pytest.approx(gc, abs=1e-6)


def test_quadratic_activation_sgd_reports_the_exact_risk(rng):
    from lazytrain import train

    task = SpikedCovariates(10, 3, 0.5, quadratic_target(rng, 3))
    res = train(task, "nn", 3, steps=3000, lr=0.002)
    assert res.risk_method == "exact"
    M, c = res.quadratic_form
    x, y = task.sample(200_000, rng)
    err = (y - c - np.einsum("ni,ij,nj->n", x, M, x)) ** 2 / task.r0
    assert abs(err.mean() - res.risk) < 5 * err.std() / math.sqrt(len(err))
    assert res.risk < 0.5


# ---------------------------------------------------------------- theory
def _check_theory(d, kappas, widths, n_draws):
    """σ = u²: the NT theory (a Marchenko-Pastur fixed point, with the spread of C) within 0.01 + 3 SE of the mean exact
    risk over draws of W (one draw fluctuates by up to 0.03) for N ≥ 4 d_s. RF (Theorem 1 with Γ = Σ/d) within 0.01 at κ = 0 only, and above the exact
    risk where N is not small against d_eff² (it sees only the radial part)."""
    s = int(d**0.4)
    target = QuadraticTarget.paper(d=s, seed=100)
    for kappa in kappas:
        task = SpikedCovariates(d, s, kappa, target)
        for n in widths:
            draws = [random_weights(d, n, seed=j) for j in range(n_draws)]
            nt = [exact_risk(task, "nt", W) for W in draws]
            se = np.std(nt, ddof=1) / math.sqrt(n_draws)
            assert abs(theory_risk(task, "nt", n) - np.mean(nt)) < 0.01 + 3 * se, (kappa, n, se)
            rf_gap = theory_risk(task, "rf", n) - np.mean([exact_risk(task, "rf", W) for W in draws])
            assert (abs(rf_gap) < 0.01) if kappa == 0 else (rf_gap > -0.01), (kappa, n, rf_gap)
        assert theory_risk(task, "nt", d) == 0.0
    return task, s


def test_nt_theory_at_kappa_zero_is_theorem_2_at_finite_d():
    """κ = 0: the resolvent fixed point with its spread term gives the exact finite-d expectation of
    ‖P⊥B̃P⊥‖²/‖B̃‖² for a Haar span (a formula of its own, theory.quadratic) to 0.002."""
    from lazytrain.theory.quadratic import nt_expected_finite_d

    task = SpikedCovariates(160, 7, 0.0, QuadraticTarget.paper(d=7))
    for n in (14, 28, 40, 80, 120, 150):
        exact_mean = nt_expected_finite_d(160, n, task.isotropic.frob2, task.isotropic.trace)
        assert abs(theory_risk(task, "nt", n) - exact_mean) < 0.002, n


def test_nt_theory_follows_the_exact_risk():
    task, s = _check_theory(160, (0.0, 0.6), (28, 80), 5)
    with pytest.raises(ValueError, match="N > signal_dim"):
        theory_risk(task, "nt", s)
    with pytest.raises(ValueError, match="u²"):
        theory_risk(task, "rf", 100, "relu")


@pytest.mark.slow
def test_nt_theory_follows_the_exact_risk_at_d_400():
    _check_theory(400, (0.0, 0.3, 0.6), (100, 200, 300), 3)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, match", [
    ((10, 11, 0.5), "signal_dim must be <= d = 10 .*got 11"),
    ((10, 0, 0.5), "signal_dim"),
    ((10, 3, float("nan")), "kappa must be a finite number"),
    ((10, 3, "big"), "kappa must be a finite number"),
])
def test_bad_input_is_named(rng, args, match):
    with pytest.raises(ValueError, match=match):
        SpikedCovariates(*args, quadratic_target(rng, 3))


def test_target_of_the_wrong_kind_or_dimension_is_refused(rng):
    with pytest.raises(ValueError, match="target must have dimension signal_dim = 3, got a QuadraticTarget of "
                                         "dimension 4"):
        SpikedCovariates(10, 3, 0.5, quadratic_target(rng, 4))
    with pytest.raises(ValueError, match="target must be a QuadraticTarget or a HermiteTarget"):
        SpikedCovariates(10, 3, 0.5, np.eye(3))


# ---------------------------------------------------------------- specs
def test_spiked_spec_runs_and_its_identity_determines_the_task():
    from lazytrain.experiments import compute_point, expand, validate_spec

    spec = validate_spec({"name": "s", "task": {"type": "spiked", "d": 32, "kappa": 0.5},
                          "regimes": ["rf", "nt", "nn"], "activations": ["quadratic"], "n_neurons": [6],
                          "kinds": ["theory", "exact"], "seeds": [0]})
    task = spec.task.build()
    assert (task.d, task.signal_dim, task.kappa) == (32, 4, 0.5)  # ⌊32^0.4⌋ = 4
    points = expand(spec)
    assert {p.task_family for p in points} == {"spiked"}
    for p in points:
        if p.kind == "exact":
            W = random_weights(32, 6, seed=0)
            assert compute_point(p, pin=False)["risk"] == pytest.approx(exact_risk(task, p.regime, W), abs=1e-12)
    other = validate_spec({**spec.model_dump(mode="json"), "task": {"type": "spiked", "d": 32, "kappa": 0.6}})
    assert {p.key for p in expand(other)}.isdisjoint({p.key for p in points})
    same = validate_spec({**spec.model_dump(mode="json"),
                          "task": {"type": "spiked", "d": 32, "kappa": 0.5, "signal_dim": 4}})
    assert {p.key for p in expand(same)} == {p.key for p in points}
    with pytest.raises(Exception, match="signal_dim must be <= d"):
        validate_spec({**spec.model_dump(mode="json"), "task": {"type": "spiked", "d": 8, "kappa": 0.5,
                                                               "signal_dim": 9}})
    relu = validate_spec({**spec.model_dump(mode="json"), "activations": ["relu"], "regimes": ["rf", "nt"]})
    assert {p.kind for p in expand(relu)} == {"exact"}  # no theory for ReLU: skipped, not failed
    herm = validate_spec({**spec.model_dump(mode="json"), "task": {
        "type": "spiked", "d": 32, "kappa": 0.5, "target": "hermite", "coefficients": [[0.0, 1.0, 0.5], [0.3, 0.0, 0.0]]}})
    built = herm.task.build()
    assert isinstance(built.target_task, HermiteTarget) and built.isotropic.directions.shape == (2, 32)
    np.testing.assert_allclose(built.target_task.directions @ built.target_task.directions.T, np.eye(2), atol=1e-12)
    assert not np.any(built.isotropic.directions[:, 4:])
    with pytest.raises(Exception, match="coefficients: required with target = 'hermite'"):
        validate_spec({**spec.model_dump(mode="json"), "task": {"type": "spiked", "d": 32, "kappa": 0.5,
                                                               "target": "hermite"}})


def test_a_diagonal_component_is_the_dense_one(rng):
    """Component(p, variances) (Σ as a vector) gives the same Grams, products and trace as
    Component(p, diag(variances))."""
    from lazytrain.tasks import Component

    d = 7
    v = rng.uniform(0.5, 4.0, d)
    W = random_weights(d, 5, seed=2)
    act = get_activation("relu")
    diag, dense = (Component(1.0, v),), (Component(1.0, np.diag(v)),)
    np.testing.assert_allclose(rf_covariance(act, W, diag)[0], rf_covariance(act, W, dense)[0], rtol=1e-12)
    for second in (False, True):
        a, b = NTGram(act, W, diag, second), NTGram(act, W, dense, second)
        np.testing.assert_allclose(a.dense(), b.dense(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.dense_by_products(), b.dense(), rtol=1e-10, atol=1e-12)
        assert a.trace() == pytest.approx(b.trace(), rel=1e-12)
        assert a.error_parts() == pytest.approx(b.error_parts(), rel=1e-12)


def test_fit_on_samples_is_scored_by_the_exact_population_risk(rng):
    """`fit` on n samples: its population risk (from the task's moments) is never below the exact
    optimum of the class and approaches it as n grows (n = 40 N)."""
    from lazytrain import fit

    task = SpikedCovariates(12, 3, 0.7, quadratic_target(rng, 3))
    W = random_weights(12, 10, seed=4)
    for regime in ("rf", "nt"):
        exact = exact_risk(task, regime, W, "relu")
        res = fit(task, regime, W, n_samples=40 * W.size // (1 if regime == "nt" else 12), ridge=1e-8,
                  activation="relu", seed=2)
        assert exact - 1e-9 <= res.risk <= exact + 0.05, (regime, res.risk, exact)
