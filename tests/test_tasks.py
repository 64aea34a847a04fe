import numpy as np
import pytest

from conftest import random_symmetric
from lazytrain import QuadraticTarget


def test_paper_target_matches_the_authors_draw():
    task = QuadraticTarget.paper(d=450, seed=100)
    gamma = np.diag(task.B) * np.sqrt(450)
    # values printed by the companion code's draw (paper.md §2.1)
    assert gamma.sum() == pytest.approx(456.057, abs=1e-3)
    assert (gamma**2).sum() == pytest.approx(945.545, abs=1e-3)
    assert task.r0 == pytest.approx(4.2024, abs=1e-4)
    assert task.tau == pytest.approx(0.48881, abs=1e-5)
    assert task.offset == pytest.approx(-task.trace)
    assert task.is_diagonal and task.is_psd


def test_paper_target_leaves_global_numpy_state_alone():
    np.random.seed(7)
    before = np.random.random()
    np.random.seed(7)
    QuadraticTarget.paper(d=10)
    assert np.random.random() == before


def test_sample_is_reproducible_and_centred():
    task = QuadraticTarget.paper(d=20)
    x1, y1 = task.sample(1000, np.random.default_rng(3))
    x2, y2 = task.sample(1000, np.random.default_rng(3))
    assert x1.shape == (1000, 20) and y1.shape == (1000,)
    np.testing.assert_array_equal(y1, y2)
    x, y = task.sample(200_000, np.random.default_rng(4))
    se = np.sqrt(task.r0 / len(y))
    assert abs(y.mean()) < 5 * se
    assert y.var() == pytest.approx(task.r0, rel=0.02)


@pytest.mark.parametrize("diagonal", [True, False])
def test_predictor_risk_against_monte_carlo(rng, diagonal):
    d = 8
    B = np.diag(rng.exponential(size=d)) if diagonal else random_symmetric(rng, d)
    task = QuadraticTarget(B, offset=0.3)
    M = random_symmetric(rng, d)
    c = 0.7
    x, y = task.sample(400_000, rng)
    err2 = (y - c - np.einsum("ni,ij,nj->n", x, M, x)) ** 2
    mc, se = err2.mean(), err2.std() / np.sqrt(len(err2))
    exact = task.predictor_risk(M, c, normalized=False)
    assert abs(mc - exact) < 5 * se
    # optimal offset: the risk drops to 2‖B - M‖²
    assert task.predictor_risk(M, normalized=False) == pytest.approx(2 * np.sum((B - M) ** 2))
    assert task.predictor_risk(np.zeros((d, d))) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "B, match",
    [
        (np.array([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "finite"),
        (np.ones((2, 3)), "square"),
        (np.ones(3), "2-D"),
        (np.zeros((3, 3)), "zero matrix"),
        ("abc", "numeric"),
    ],
)
def test_bad_B_is_named(B, match):
    with pytest.raises(ValueError, match=match) as err:
        QuadraticTarget(B)
    assert "B" in str(err.value)


def test_bad_offset_and_sample_size():
    with pytest.raises(ValueError, match="offset"):
        QuadraticTarget(np.eye(2), offset=float("inf"))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        QuadraticTarget(np.eye(2)).sample(0)
