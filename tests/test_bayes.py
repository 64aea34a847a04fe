"""Bayes risks of the mixture against plain Monte Carlo and closed forms."""

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from lazytrain import GaussianMixture, bayes_risk


def _monte_carlo(task, n=200_000, seed=11):
    """Per-sample square risk sech²(L/2) and 0-1 loss of sign(L), L from scipy's Gaussian log-densities."""
    x, y = task.sample(n, rng=seed)
    eye = np.eye(task.d)
    L = (scipy.stats.multivariate_normal(np.zeros(task.d), eye + task.Delta).logpdf(x)
         - scipy.stats.multivariate_normal(np.zeros(task.d), eye - task.Delta).logpdf(x))
    # the posterior mean E[y|x] = tanh(L/2) must be the best predictor: check its square loss too
    return {"square": (y - np.tanh(L / 2)) ** 2, "error": (np.sign(L) != y).astype(float)}


@pytest.mark.parametrize("kind", ["square", "error"])
@pytest.mark.parametrize("task", [
    GaussianMixture(np.diag([0.6, -0.3, 0.1])),
    GaussianMixture(np.array([[0.2, 0.5, 0.0], [0.5, -0.1, 0.3], [0.0, 0.3, 0.4]])),
    GaussianMixture.paper(d=40, frob2=3.0),
], ids=["diag3", "dense3", "paper40"])
def test_bayes_risk_matches_monte_carlo(task, kind):
    loss = _monte_carlo(task)[kind]
    se = loss.std() / np.sqrt(len(loss))
    assert abs(loss.mean() - bayes_risk(task, kind)) < 4 * se


def test_bayes_risk_matches_one_dimensional_closed_forms():
    """d = 1: the error from χ² tails, the square risk by quadrature over x."""
    delta = 0.5
    task = GaussianMixture(np.array([[delta]]))
    C = 0.5 * np.log((1 + delta) / (1 - delta))
    t = C * (1 - delta**2) / delta  # L < 0  ⇔  x² < t
    chi2 = scipy.stats.chi2(1)
    error = 0.5 * (chi2.cdf(t / (1 + delta)) + chi2.sf(t / (1 - delta)))
    L = lambda x: delta * x * x / (1 - delta**2) - C  # noqa: E731
    density = lambda x: 0.5 * sum(scipy.stats.norm(0, np.sqrt(1 + s * delta)).pdf(x) for s in (1, -1))  # noqa: E731
    square = scipy.integrate.quad(lambda x: density(x) * (1 - np.tanh(L(x) / 2) ** 2), -40, 40, epsabs=1e-12)[0]
    assert bayes_risk(task, "error") == pytest.approx(error, abs=1e-6)
    assert bayes_risk(task, "square") == pytest.approx(square, abs=1e-6)


def test_bayes_risk_trivial_and_invalid():
    task = GaussianMixture(np.zeros((4, 4)))
    assert bayes_risk(task, "square") == pytest.approx(1.0, abs=1e-8)
    assert bayes_risk(task, "error") == pytest.approx(0.5, abs=1e-8)
    with pytest.raises(ValueError, match="kind"):
        bayes_risk(task, "hinge")
    with pytest.raises(ValueError, match="GaussianMixture"):
        bayes_risk(np.eye(3))


def test_paper_preset_bayes_below_best_quadratic():
    task = GaussianMixture.paper()
    lam = task.eigenvalues
    best_quadratic = 1 / (1 + 0.5 * np.sum(lam**2 / (1 + lam**2)))
    assert bayes_risk(task, "square") < best_quadratic - 0.05
    # small-Δ approximation of the 0-1 error, Φ(-‖Δ‖_F/√2), within its O(‖Δ‖_op) accuracy
    assert bayes_risk(task, "error") == pytest.approx(scipy.stats.norm.cdf(-np.sqrt(task.frob2 / 2)), abs=0.01)
