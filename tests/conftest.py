import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def mc(fn, task, n, rng, chunk=50_000):
    """Mean and standard error of fn(x, y) over n draws of the task."""
    s1 = s2 = 0.0
    for start in range(0, n, chunk):
        x, y = task.sample(min(chunk, n - start), rng)
        v = fn(x, y)
        s1 = s1 + v.sum(axis=0)
        s2 = s2 + (v * v).sum(axis=0)
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean**2, 0.0) / n)


def random_symmetric(rng, d, psd=False):
    A = rng.standard_normal((d, d))
    return A @ A.T / d if psd else (A + A.T) / 2


def _capture(fig) -> dict:
    """What a matplotlib figure drew: the axes' y labels, texts and legends, the figure's own legends,
    and each axes' lines (label, dashes)."""
    return {
        "ylabels": [ax.get_ylabel() for ax in fig.axes],
        "texts": [t.get_text() for ax in fig.axes for t in ax.texts],
        "axes_legends": [ax.get_legend() is not None for ax in fig.axes],
        "figure_legends": [[t.get_text() for t in leg.texts] for leg in fig.legends],
        "lines": [[(ln.get_label(), ln._unscaled_dash_pattern) for ln in ax.get_lines()] for ax in fig.axes],
    }


class _QuickFigures:
    """``lazytrain reproduce figN --quick`` run once per test session (the CLI, in this process, one
    torch thread, into a fresh folder), with what each saved figure drew."""

    def __init__(self, tmp_path_factory):
        self.factory, self.runs, self.drawn = tmp_path_factory, {}, {}

    def __call__(self, fig: str):
        if fig not in self.runs:
            import torch
            from click.testing import CliRunner

            import lazytrain.reproduce as reproduce
            from lazytrain.cli import main

            out = self.factory.mktemp(f"reproduce-{fig}-quick")
            save, threads = reproduce.save_figure, torch.get_num_threads()

            def capture(figure, out_dir, name):
                self.drawn[name] = _capture(figure)
                return save(figure, out_dir, name)

            reproduce.save_figure = capture
            torch.set_num_threads(1)
            try:
                self.runs[fig] = (out, CliRunner().invoke(main, ["reproduce", fig, "--quick", "--out", str(out)]))
            finally:
                reproduce.save_figure = save
                torch.set_num_threads(threads)
        out, result = self.runs[fig]
        assert result.exit_code == 0, f"reproduce {fig} --quick failed:\n{result.output}\n{result.exception!r}"
        return out


@pytest.fixture(scope="session")
def quick_figure(tmp_path_factory):
    """``quick_figure("figN")`` -> the folder of the session's quick run of that figure."""
    return _QuickFigures(tmp_path_factory)


@pytest.fixture(scope="session")
def drawn(quick_figure):
    """``drawn["figN"]``: what the session's quick run of figure N drew (run ``quick_figure`` first)."""
    return quick_figure.drawn
