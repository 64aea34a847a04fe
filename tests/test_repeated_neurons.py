"""Issue 17 C1: a repeated neuron leaves the RF/NT class unchanged, so the risk is the one without
the repeat; nearly parallel rows give a number or an error that names them."""

import numpy as np
import pytest

import lazytrain as lt
from lazytrain.activations import Activation, MomentAccuracyError

D, N = 12, 6


def _softplus(u):
    return np.logaddexp(0.0, u)


ACTIVATIONS = ["relu", "tanh", "gelu", "quadratic", "softplus"]


def _act(name):
    return Activation.from_function(_softplus, name="softplus") if name == "softplus" else name


@pytest.fixture(scope="module")
def W():
    return lt.random_weights(D, N, seed=3)


@pytest.mark.parametrize("task", ["quadratic", "mixture"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("regime", ["rf", "nt"])
def test_a_repeated_neuron_does_not_change_the_risk(W, task, activation, regime):
    task = lt.QuadraticTarget.paper(d=D) if task == "quadratic" else lt.GaussianMixture.paper(d=D)
    act = _act(activation)
    # the general solver (closed_form=False) and a repeat placed between other rows
    W2 = np.vstack([W[:3], W[1:2], W[3:], W[1:2]])
    base = lt.exact_risk(task, regime, W, act, closed_form=False)
    assert lt.exact_risk(task, regime, W2, act, closed_form=False) == pytest.approx(base, abs=1e-9)
    assert lt.exact_risk(task, regime, W2, act) == pytest.approx(lt.exact_risk(task, regime, W, act), abs=1e-9)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_a_repeated_neuron_with_the_second_layer_and_in_fit(W, activation):
    task = lt.QuadraticTarget.paper(d=D)
    W2 = np.vstack([W, W[:1]])
    assert lt.exact_risk(task, "nt", W2, activation, second_layer=True) == pytest.approx(
        lt.exact_risk(task, "nt", W, activation, second_layer=True), abs=1e-9)
    # min-norm least squares (ridge 0) on the same samples: the same fitted function
    fits = [lt.fit(task, "rf", w, 300, ridge=0.0, activation=activation, seed=1).risk for w in (W, W2)]
    assert fits[1] == pytest.approx(fits[0], abs=1e-8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("regime", ["rf", "nt"])
@pytest.mark.parametrize("eps", [1e-4, 1e-6, 1e-8])
def test_nearly_parallel_rows_give_a_number_or_name_the_rows(W, activation, regime, eps):
    task = lt.QuadraticTarget.paper(d=D)
    act = _act(activation)
    direction = np.random.default_rng(0).standard_normal(D)
    W2 = np.vstack([W, W[:1] + eps * direction])
    base = lt.exact_risk(task, regime, W, act)
    try:
        risk = lt.exact_risk(task, regime, W2, act)
    except (ValueError, MomentAccuracyError) as err:
        assert "rows 0 and 6" in str(err) and "parallel" in str(err), str(err)
        return
    # one more neuron can only lower the risk (up to the accuracy asked for, 1e-6)
    assert 0.0 <= risk <= base + 1e-6


def test_parallel_rows_that_are_not_repeats_are_named(W):
    task = lt.QuadraticTarget.paper(d=D)
    for row in (2 * W[0], -W[0]):
        with pytest.raises(ValueError, match=r"rows 0 and 6 of W are parallel"):
            lt.exact_risk(task, "rf", np.vstack([W, row]), "gelu")
