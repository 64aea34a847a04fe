"""The names of the presets, the figures and the point kinds, without importing anything heavy.

The command line's help lists them from here (``lazytrain run --help`` loads neither pydantic
nor torch); tests check that they agree with :data:`.presets.PRESETS`, the figures of
:mod:`lazytrain.reproduce` and :data:`.kinds.KINDS`.
"""

#: Every preset spec (``lazytrain run PRESET``, ``load_spec(PRESET)``), in order.
PRESET_NAMES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig6-samples", "fig6-theory", "fig7", "fig7-steps",
                "fig8")

#: The figures ``lazytrain reproduce`` draws, and the presets each one runs (Figure 5 runs its
#: preset once per α, Figure 8 one spec per κ and panel: see :func:`.presets.preset_specs`).
FIGURE_PRESETS = {"fig1": ("fig1",), "fig2": ("fig2",), "fig3": ("fig3",), "fig4": ("fig4",),
                  "fig5": ("fig5",), "fig6": ("fig6", "fig6-samples", "fig6-theory"),
                  "fig7": ("fig7", "fig7-steps"), "fig8": ("fig8",)}

#: The kinds of point (the ``kind`` column of ``lazytrain results``).
KIND_NAMES = ("theory", "exact", "sgd", "fit")


def listing(names) -> str:
    """'a, b, c and d'."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
