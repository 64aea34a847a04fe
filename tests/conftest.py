import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_symmetric(rng, d, psd=False):
    A = rng.standard_normal((d, d))
    return A @ A.T / d if psd else (A + A.T) / 2


@pytest.fixture
def drawn(monkeypatch):
    """What each `lazytrain.reproduce` figure drew, by name, captured as it is saved: the axes'
    y labels, texts and legends, the figure's own legends, and each axes' lines (label, dashes)."""
    import lazytrain.reproduce as reproduce

    figures = {}
    save = reproduce.save_figure

    def capture(fig, out_dir, name):
        figures[name] = {
            "ylabels": [ax.get_ylabel() for ax in fig.axes],
            "texts": [t.get_text() for ax in fig.axes for t in ax.texts],
            "axes_legends": [ax.get_legend() is not None for ax in fig.axes],
            "figure_legends": [[t.get_text() for t in leg.texts] for leg in fig.legends],
            "lines": [[(ln.get_label(), ln._unscaled_dash_pattern) for ln in ax.get_lines()] for ax in fig.axes],
        }
        return save(fig, out_dir, name)

    monkeypatch.setattr(reproduce, "save_figure", capture)
    return figures
