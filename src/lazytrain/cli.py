"""Command-line interface: ``lazytrain reproduce {fig1,fig2,fig3} [--quick] [--out DIR]``."""

from __future__ import annotations

import time

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lazytrain")
def main():
    """lazytrain: how far lazy training (RF, NT) falls behind real training (NN).

    Every risk is normalised by R0, the risk of the best constant predictor.
    """


@main.command()
@click.argument("figure", type=click.Choice(["fig1", "fig2", "fig3"], case_sensitive=False))
@click.option("--quick", is_flag=True, help="Small dimension: a figure in seconds.")
@click.option("--out", "out", type=click.Path(file_okay=False), default="lazytrain-out",
              show_default=True, help="Output directory for PNG, PDF and CSV.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random weights.")
def reproduce(figure, quick, out, seed):
    """Regenerate one of the paper's figures (PNG, PDF and a tidy CSV)."""
    from .reproduce import FIGURES

    start = time.perf_counter()
    paths = FIGURES[figure.lower()](out, quick=quick, seed=seed)
    click.echo(f"{figure} done in {time.perf_counter() - start:.1f} s:")
    for p in paths:
        click.echo(f"  {p}")


if __name__ == "__main__":  # pragma: no cover
    main()
