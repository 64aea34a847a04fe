"""QuadraticTarget's torch sampling and risk gradient, against numpy and finite differences."""

import numpy as np
import pytest
import torch

from lazytrain import QuadraticTarget


def _general(d=9, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    return QuadraticTarget((A + A.T) / 2, offset=0.7)


@pytest.mark.parametrize("make", [lambda: QuadraticTarget.paper(d=9), _general])
def test_sample_torch_gives_f_star_of_its_x(make):
    task = make()
    x, y = task.sample_torch(500, torch.Generator().manual_seed(0), "cpu", torch.float64)
    assert x.shape == (500, task.d) and y.shape == (500,)
    np.testing.assert_allclose(y.numpy(), task.target(x.numpy()), rtol=1e-12, atol=1e-12)


def test_sample_torch_moments():
    task = QuadraticTarget.paper(d=15)
    n = 200_000
    x, y = task.sample_torch(n, torch.Generator().manual_seed(1), "cpu", torch.float32)
    assert x.dtype == torch.float32
    y = y.double()
    assert abs(float(y.mean())) < 5 * np.sqrt(task.r0 / n)          # centred target
    assert float(y.var()) == pytest.approx(task.r0, rel=5 * np.sqrt(8 / n) * 3)  # Var f* = R0


def test_sample_torch_same_generator_state_same_draw():
    task = QuadraticTarget.paper(d=5)
    a = task.sample_torch(4, torch.Generator().manual_seed(3), "cpu", torch.float32)
    b = task.sample_torch(4, torch.Generator().manual_seed(3), "cpu", torch.float32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("c", [None, 0.3])
def test_predictor_risk_grad_matches_risk_and_finite_differences(c):
    task = _general()
    rng = np.random.default_rng(5)
    M = rng.standard_normal((9, 9))
    M = (M + M.T) / 4
    risk, gM, gc = task.predictor_risk_grad(M, c)
    assert risk == pytest.approx(task.predictor_risk(M, c), rel=1e-14)
    np.testing.assert_allclose(gM, gM.T)
    E = rng.standard_normal((9, 9))
    E = (E + E.T) / 2
    h = 1e-6
    fd = (task.predictor_risk(M + h * E, c) - task.predictor_risk(M - h * E, c)) / (2 * h)
    assert np.sum(gM * E) == pytest.approx(fd, rel=1e-6)
    if c is None:
        assert gc == 0.0
    else:
        fd_c = (task.predictor_risk(M, c + h) - task.predictor_risk(M, c - h)) / (2 * h)
        assert gc == pytest.approx(fd_c, rel=1e-6)
