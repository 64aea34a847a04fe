import numpy as np
import pytest

from lazytrain import random_weights


def test_shape_seed_and_default_covariance():
    W = random_weights(40, 5000, seed=1)
    assert W.shape == (5000, 40)
    np.testing.assert_array_equal(W, random_weights(40, 5000, seed=1))
    assert not np.array_equal(W, random_weights(40, 5000, seed=2))
    emp = W.T @ W / W.shape[0]
    # entries of the empirical covariance have standard error ≈ (1/d)·√(2/n) on the diagonal
    se = (1 / 40) * np.sqrt(2 / 5000)
    assert np.max(np.abs(np.diag(emp) - 1 / 40)) < 5 * se
    assert np.max(np.abs(emp - np.diag(np.diag(emp)))) < 5 * se


def test_general_covariance():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    cov = A @ A.T / 6
    W = random_weights(6, 200_000, seed=3, cov=cov)
    emp = W.T @ W / W.shape[0]
    se = np.sqrt((np.diag(cov)[:, None] * np.diag(cov)[None, :] + cov**2) / W.shape[0])
    assert np.max(np.abs(emp - cov) / se) < 5
    Wd = random_weights(6, 200_000, seed=3, cov=np.arange(1.0, 7.0))
    np.testing.assert_allclose(Wd.var(axis=0), np.arange(1.0, 7.0), rtol=0.02)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d": 0, "n_neurons": 3}, "d must be a positive integer"),
        ({"d": 3, "n_neurons": 0}, "n_neurons must be a positive integer"),
        ({"d": 3, "n_neurons": -2}, "n_neurons"),
        ({"d": 3, "n_neurons": 2.5}, "n_neurons"),
        ({"d": 2, "n_neurons": 2, "cov": [[1.0, 0.0], [0.0, -1.0]]}, "positive semi-definite"),
        ({"d": 2, "n_neurons": 2, "cov": [[1.0, 0.5], [0.0, 1.0]]}, "symmetric"),
        ({"d": 3, "n_neurons": 2, "cov": np.eye(2)}, r"shape \(d, d\)"),
        ({"d": 3, "n_neurons": 2, "seed": -1}, "seed"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_weights(**kwargs)
