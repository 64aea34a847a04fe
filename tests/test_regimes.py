"""The regime definitions (lazytrain.regimes) against independent computations."""

import dataclasses

import numpy as np
import pytest
import torch

from lazytrain import QuadraticTarget, random_weights
from lazytrain.activations import Activation, get_activation
from lazytrain.regimes import NN, NT, REGIMES, RF, LazyNN, check_regime, get_regime
from lazytrain.train.config import TrainConfig
from lazytrain.train.models import MODELS, make_model

VARIANTS = [RF(), NT(), NT(second_layer=True)]


def test_one_registry_and_the_variants():
    assert REGIMES == ("rf", "nt", "nn")
    assert get_regime("NT ", second_layer=True) == NT(second_layer=True)
    assert get_regime("nn", shared_a=False) == NN(shared_a=False)
    assert get_regime("nn", lazy=True) == LazyNN() and LazyNN().limit == NT(second_layer=True)
    assert get_regime("rf", second_layer=True) == RF()  # another regime's variant keyword is ignored
    assert check_regime(NT()) == "nt"
    with pytest.raises(ValueError, match="variant as keywords"):  # never silently read as plain 'nt'
        check_regime(NT(second_layer=True))
    with pytest.raises(ValueError, match=r"regime must be one of \['rf', 'nt', 'nn'\], got 'xx'"):
        get_regime("xx")
    with pytest.raises(dataclasses.FrozenInstanceError):
        NT().second_layer = True
    with pytest.raises(ValueError, match="shared_a"):
        LazyNN(shared_a=True)


@pytest.mark.parametrize("regime", VARIANTS, ids=str)
@pytest.mark.parametrize("act", ["relu", "tanh", "quadratic"])
def test_features_by_hand_in_numpy_and_torch(regime, act):
    """φ against a loop over neurons written from the definitions; predict against φβ; torch = numpy."""
    act = get_activation(act)
    rng = np.random.default_rng(0)
    n, N, d = 7, 4, 5
    x, W = rng.standard_normal((n, d)), rng.standard_normal((N, d)) / np.sqrt(d)
    cols = []
    if regime.tangent:
        for i in range(N):
            cols.append(x * act.derivative(x @ W[i])[:, None])     # x σ'(⟨w_i, x⟩), block i
    if regime.scalar:
        cols.append(act.fn(x @ W.T))
    ref = np.concatenate(cols, axis=1)
    layout = regime.layout(N, d)
    assert layout.size == ref.shape[1]
    np.testing.assert_allclose(regime.features(x, W, act), ref, rtol=1e-13, atol=1e-15)
    torch_phi = regime.features(torch.as_tensor(x), torch.as_tensor(W), act)
    np.testing.assert_allclose(torch_phi.numpy(), ref, rtol=1e-12, atol=1e-14)
    beta = rng.standard_normal(layout.size)
    coef = layout.coef(0.7, beta)
    np.testing.assert_array_equal(layout.flat(coef), beta)
    assert set(coef.as_dict()) == {"offset"} | ({"b"} if regime.tangent else set()) | (
        {"a"} if regime.scalar else set())
    np.testing.assert_allclose(regime.predict(x, W, act, coef), 0.7 + ref @ beta, rtol=1e-12, atol=1e-13)


def test_nn_has_no_linear_layout():
    with pytest.raises(ValueError, match="not a linear class"):
        NN().layout(3, 4)


@pytest.mark.parametrize("regime, kw", [("rf", {}), ("nt", {}), ("nt", {"second_layer": True}),
                                        ("nn", {}), ("nn", {"shared_a": False}), ("nn", {"alpha": [3.0, 0.5]})])
def test_quadratic_form_is_the_trained_network(regime, kw):
    """The regime's c + xᵀMx against the model's own forward pass, at a random state (σ = u² + 0.5)."""
    act = Activation.polynomial((0.5, 0.0, 1.0))
    assert act.is_even_quadratic
    widths = (3, 5)
    weights = [random_weights(12, n, seed=i) for i, n in enumerate(widths)]
    a0 = [np.where(np.arange(n) % 2 == 0, 1.0, -1.0) for n in widths]
    net = make_model(regime, act, weights, a0, [0.1, 0.2], dtype=torch.float64, **kw)
    assert isinstance(net, MODELS[type(net.regime)])
    gen = torch.Generator().manual_seed(1)
    for t in net.parameters().values():
        t += 0.2 * torch.randn(t.shape, generator=gen, dtype=torch.float64)
    x, _ = QuadraticTarget.paper(d=12).sample_torch(40, gen, "cpu", torch.float64)
    f = net.predict(x).numpy()
    xs = x.numpy()
    for k in range(net.K):
        M, c = net.quadratic_form(k)
        np.testing.assert_allclose(f[:, k], c + np.einsum("bi,ij,bj->b", xs, M, xs), rtol=1e-10, atol=1e-11)


def test_config_is_validated_frozen_and_resolved():
    cfg = TrainConfig("NT", [4, 9], 20, second_layer=True, lr=0.01)
    assert cfg.regime == NT(second_layer=True) and cfg.name == "nt" and cfg.widths == (4, 9)
    assert cfg.lr == (0.01, 0.01) and cfg.schedule == ((1.0, 1.0),) and cfg.average == 0.5
    assert cfg.dtype is torch.float32 and cfg.settings("t")["second_layer"] is True
    lazy = TrainConfig("nn", [4, 4], 20, alpha=[10.0, 0.5], lr=0.01)
    assert lazy.regime == LazyNN() and lazy.step_lrs == (0.01, 0.005) and lazy.shared_a is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3
    for kw, name in [({"batch_size": 0}, "batch_size"), ({"n_test": -1}, "n_test"), ({"lr": [1, 2, 3]}, "lr"),
                     ({"precondition": True}, "precondition"), ({"a0": "gauss"}, "a0")]:
        with pytest.raises(ValueError, match=name):
            TrainConfig("rf", [4, 9], 20, **kw)


def test_capabilities_give_one_reason_everywhere():
    """The exact NN risk, the NN theory, the spec's skip and theory_unavailable all show one reason."""
    from lazytrain import exact_risk, theory_risk
    from lazytrain.experiments.kinds import KINDS
    from lazytrain.regimes import capabilities
    from lazytrain.theory import theory_unavailable

    task = QuadraticTarget.paper(d=10)
    relu = capabilities(task, "relu", "nn")
    assert not (relu.exact_nn or relu.theory or relu.population_flow or relu.closed_form
                or relu.exact_predictor_risk)
    reason = relu.exact_nn.reason
    assert reason == relu.theory.reason and "needs σ(u) = u² + c0" in reason
    with pytest.raises(ValueError) as exact_error:
        exact_risk(task, "nn", random_weights(10, 3, seed=0), "relu")
    with pytest.raises(ValueError) as theory_error:
        theory_risk(task, "nn", 3, "relu")
    assert reason in str(exact_error.value) and reason in str(theory_error.value)
    assert KINDS["exact"].skip_reason("paper", "nn", "relu") == reason == theory_unavailable("quadratic", "nn", "relu")
    quad = capabilities(task, "quadratic", "nn")
    assert all(getattr(quad, f).available for f in quad.__dataclass_fields__)
    assert not capabilities(task, "quadratic", "rf").population_flow
    assert capabilities(task, "relu", "nt").theory  # RF and NT theory for any σ


@pytest.mark.parametrize("regime", VARIANTS, ids=str)
def test_kernel_is_the_wide_limit_of_the_features(regime):
    """k(x, x') against φ(x)ᵀφ(x')/N for N = 20000 random neurons w ~ N(0, I/d) (Monte Carlo)."""
    act = get_activation("tanh")
    rng = np.random.default_rng(1)
    d, N = 6, 20_000
    X = rng.standard_normal((4, d))
    W = random_weights(d, N, seed=2)
    phi = regime.features(X, W, act)
    mc = phi @ phi.T / N
    np.testing.assert_allclose(regime.kernel(act, X, X), mc, rtol=0.05, atol=0.02)


# ---------------------------------------------------------------- regimes that move W first
def test_a_regime_that_moves_w_is_refused_where_w_is_given():
    """'one-step' is registered (specs take it) but exact_risk/fit/train/theory_risk evaluate a
    regime at the W they are given: each refuses it, naming what to call instead."""
    import lazytrain as lt
    from lazytrain.regimes import ALL_REGIMES, REGISTRY

    assert ALL_REGIMES == tuple(REGISTRY) and "one-step" in ALL_REGIMES and "one-step" not in REGIMES
    assert get_regime("one-step", any_regime=True).name == "one-step"
    task = QuadraticTarget.paper(d=8, seed=0)
    W = random_weights(8, 4, seed=0)
    calls = [lambda: lt.exact_risk(task, "one-step", W, "relu"),
             lambda: lt.fit(task, "one-step", W, n_samples=20),
             lambda: lt.train(task, "one-step", 4, steps=1),
             lambda: lt.theory_risk(task, "one-step", 4, "relu")]
    for call in calls:
        with pytest.raises(ValueError, match=r"one-step.*lazytrain\.one_step\(task, W"):
            call()


TOY_REGIME = '''
"""A toy regime that moves W first: every w_i shifted by shift·e_1, then RF (a test of the seam)."""
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from lazytrain.regimes.base import Regime
from lazytrain.regimes.rf import RF


class ShiftedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shift: list[float]


@dataclass(frozen=True)
class Shifted(Regime):
    name = "shifted"
    label = "shifted RF"
    style = {"color": "#8c564b", "marker": "v"}
    scalar = True
    at_given_w = False
    use_instead = "shift W yourself"
    table = "shifted"
    Settings = ShiftedSettings
    unavailable_kinds = {"theory": "no theory for the toy", "sgd": "no SGD for the toy"}

    def point_options(self, settings, d):
        return [{"shift": f} for f in settings.shift]

    def prepare(self, task, W, activation, *, seed=0, options=None, info=None):
        moved = W.copy()
        moved[:, 0] += options["shift"]
        return moved, RF(), {"shift_seen": options["shift"]}
'''

TOY_RUN = '''
import json, sys

import numpy as np
sys.path.insert(0, sys.argv[1])
import lazytrain.regimes as regimes
import lazytrain.regimes.registry as registry
from toy_regime import Shifted

# the one registry line (done here at run time, before the experiments layer reads the registry;
# the workers, which import this script as their main module, run it too)
registry.REGISTRY["shifted"] = Shifted
registry.ALL_REGIMES = regimes.ALL_REGIMES = tuple(registry.REGISTRY)

import lazytrain as lt
from lazytrain.experiments import ResultStore, tidy_rows
from lazytrain.experiments.execute import run_spec
from lazytrain.experiments.spec import validate_spec
from lazytrain.figures import REGIME_STYLE


def main():
    spec = validate_spec({"name": "toy", "task": {"type": "paper", "d": 10, "seed": 1}, "regimes": ["rf", "shifted"],
                          "activations": ["relu"], "n_neurons": [6], "kinds": ["theory", "exact"],
                          "shifted": {"shift": [0.0, 0.5]}})
    skipped = sorted((u["kind"], u["regime"]) for u in spec.unavailable())
    run_spec(spec, sys.argv[2], progress=False)
    with ResultStore.open(sys.argv[2]) as store:
        rows = tidy_rows(store.records())
    task = spec.task.build()
    W = lt.random_weights(10, 6, seed=0)
    out = {"skipped": skipped, "style": REGIME_STYLE["shifted"]["label"],
           "rows": [[r["regime"], r["kind"], r.get("shift"), r.get("shift_seen"), r["risk"]] for r in rows],
           "direct": {f: lt.exact_risk(task, "rf", W + f * np.eye(10)[0], "relu") for f in (0.0, 0.5)}}
    print(json.dumps(out))


if __name__ == "__main__":  # worker processes import this module too: the registry line above runs there
    main()
'''


def test_a_new_regime_is_one_file_and_a_registry_line(tmp_path):
    """The seam: a regime written in one file (moves W, then RF) and registered by one line runs
    through specs, points, probes and the store untouched; its exact points equal exact_risk of
    'rf' at the moved W, computed directly; the kinds it declares unavailable are reported."""
    import json
    import subprocess
    import sys

    (tmp_path / "toy_regime.py").write_text(TOY_REGIME)
    (tmp_path / "run.py").write_text(TOY_RUN)
    done = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["skipped"] == [["theory", "shifted"]]
    assert out["style"] == "shifted RF"
    moved = {r[2]: r for r in out["rows"] if r[0] == "shifted"}
    assert set(moved) == {0.0, 0.5} and all(r[1] == "exact" and r[3] == r[2] for r in moved.values())
    for f, r in moved.items():
        assert r[4] == pytest.approx(out["direct"][str(f)], abs=1e-12)
    rf = next(r for r in out["rows"] if r[0] == "rf" and r[1] == "exact")
    assert rf[4] == pytest.approx(moved[0.0][4], abs=1e-12)
    assert abs(moved[0.5][4] - moved[0.0][4]) > 1e-6  # the move is real
