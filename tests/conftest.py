import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_symmetric(rng, d, psd=False):
    A = rng.standard_normal((d, d))
    return A @ A.T / d if psd else (A + A.T) / 2


@pytest.fixture(scope="session")
def quick_figure(tmp_path_factory):
    """``quick_figure("figN")``: run ``lazytrain reproduce figN --quick`` once per test session, as a
    user would (the installed command, in a subprocess, into a fresh folder), check that it exited 0,
    and return the folder. Tests of the same figure share the run."""
    import subprocess
    import sys
    from pathlib import Path

    done = {}

    def run(fig: str):
        if fig not in done:
            out = tmp_path_factory.mktemp(f"reproduce-{fig}-quick")
            result = subprocess.run([str(Path(sys.executable).parent / "lazytrain"), "reproduce", fig,
                                     "--quick", "--out", str(out)], capture_output=True, text=True,
                                    timeout=600)
            done[fig] = (out, result)
        out, result = done[fig]
        assert result.returncode == 0, f"reproduce {fig} --quick failed:\n{result.stdout}\n{result.stderr}"
        return out

    return run
