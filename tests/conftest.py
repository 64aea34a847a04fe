import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_symmetric(rng, d, psd=False):
    A = rng.standard_normal((d, d))
    return A @ A.T / d if psd else (A + A.T) / 2
