"""Command-line interface (wiring only).

``lazytrain run SPEC|PRESET --out DIR``, ``lazytrain results DIR``,
``lazytrain report DIR`` and ``lazytrain reproduce figK|all``.
"""

from __future__ import annotations

import functools
import sys
import time

import click

from ._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lazytrain")
def main():
    """lazytrain: how far lazy training (RF, NT) falls behind real training (NN).

    Every risk is normalised by R0, the risk of the best constant predictor.
    """


def _friendly_errors(fn):
    """Turn the toolkit's expected errors into one-line messages (exit code 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .experiments import PointError, SpecError, StoreError

        try:
            return fn(*args, **kwargs)
        except (SpecError, StoreError, PointError, ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _execution_options(fn):
    """--executor, --workers, --scheduler (shared by run and reproduce)."""
    fn = click.option("--scheduler", metavar="ADDRESS", default=None,
                      help="Address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                           "implies --executor dask.")(fn)
    fn = click.option("--workers", type=click.IntRange(min=1), default=None,
                      help="Worker processes (local, or the Dask LocalCluster's) "
                           "[default: the CPUs available].")(fn)
    fn = click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
                      help="Where the costly points run: local processes, or Dask "
                           "(a LocalCluster, or --scheduler) [default: local].")(fn)
    return fn


def _execution(executor, workers, scheduler) -> dict:
    if scheduler and executor == "local":
        raise click.UsageError("--scheduler needs --executor dask (or no --executor)")
    return {"executor": "dask" if scheduler else (executor or "local"), "workers": workers,
            "scheduler": scheduler}


@main.command()
@click.argument("spec", metavar="SPEC|PRESET")
@click.option("--out", "out", type=click.Path(), default="lazytrain-out", show_default=True,
              help="Output directory; its results.sqlite keeps every finished point.")
@click.option("--quick", is_flag=True, help="With a preset: its small, fast variant.")
@_execution_options
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar (points done, time left) on standard error.")
@_friendly_errors
def run(spec, out, quick, executor, workers, scheduler, progress):
    """Compute the points of an experiment, resuming where a previous run stopped.

    SPEC is a TOML file or a preset: fig1, fig2, fig3 (add --quick for the
    small variant). Each finished point is stored at once in DIR/results.sqlite;
    running again skips the stored points.
    """
    from .experiments import load_spec, run_spec

    spec_obj = load_spec(spec, quick=quick)
    try:
        summary = run_spec(spec_obj, out, progress=progress,
                           **_execution(executor, workers, scheduler))
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: the finished points are stored in {out}/results.sqlite; "
                   "run the same command again to resume", err=True)
        sys.exit(130)
    click.echo(f"{summary.spec_name}: {summary.total} points, {summary.skipped} already stored, "
               f"{summary.computed} computed in {summary.wall_s:.1f} s -> {out}/results.sqlite")
    click.echo(f"next: lazytrain results {out}   |   lazytrain report {out}", err=True)


@main.command()
@click.argument("directory", metavar="DIR", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv",
              show_default=True, help="Output format (parquet needs pandas and pyarrow).")
@click.option("--output", "output", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE instead of standard output.")
@_friendly_errors
def results(directory, fmt, output):
    """Print the tidy table of every point stored in DIR.

    Columns: task, regime, activation, d, n_neurons, rho, kind, seed, risk
    (R/R0), then task_params and the point's key.
    """
    from .experiments import ResultStore, export, tidy_rows

    with ResultStore.open(directory) as store:
        rows = tidy_rows(store.records())
    text = export(rows, fmt, output)
    if text is not None:
        sys.stdout.write(text)
    else:
        click.echo(f"{len(rows)} rows -> {output}", err=True)


@main.command()
@click.argument("directory", metavar="DIR", type=click.Path())
@click.option("--output", "output", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: DIR/report.html].")
@_friendly_errors
def report(directory, output):
    """Write a self-contained HTML report of the points stored in DIR.

    Figures (embedded), theory-against-exact-against-SGD tables and the
    provenance of every point.
    """
    from .report import write_report

    path = write_report(directory, output)
    click.echo(f"report -> {path}")


@main.command()
@click.argument("figure", type=click.Choice(["fig1", "fig2", "fig3", "fig5", "all"], case_sensitive=False))
@click.option("--quick", is_flag=True, help="Small dimension: a figure in seconds.")
@click.option("--out", "out", type=click.Path(file_okay=False), default="lazytrain-out",
              show_default=True, help="Output directory for PNG, PDF and CSV.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random weights.")
@click.option("--task", "task", type=click.Choice(["paper", "mixture"]), default="paper",
              show_default=True, help="fig5 only: the quadratic target or the Gaussian mixture.")
@click.option("--activation", default="quadratic", show_default=True,
              help="fig5 only: the activation (e.g. relu).")
@_execution_options
@_friendly_errors
def reproduce(figure, quick, out, seed, task, activation, executor, workers, scheduler):
    """Regenerate one of the paper's figures (PNG, PDF and a tidy CSV), or all and the report.

    The points go through the same machinery as `lazytrain run` (stored in
    OUT/results.sqlite; an interrupted reproduction resumes).
    """
    from .reproduce import FIGURES, figure_specs

    execution = _execution(executor, workers, scheduler)
    names = list(FIGURES) if figure.lower() == "all" else [figure.lower()]
    options = {}
    if (task, activation) != ("paper", "quadratic"):
        if names != ["fig5"]:
            raise click.UsageError("--task and --activation are options of fig5 only")
        options = {"task": task, "activation": activation}
    start = time.perf_counter()
    if len(names) > 1:  # one sweep: the figures' points share the workers, costliest first
        from .experiments import run_spec

        summary = run_spec([s for n in names for s in figure_specs(n, quick, seed)], out, **execution)
        click.echo(f"{summary.total} points, {summary.skipped} already stored, {summary.computed} "
                   f"computed in {summary.wall_s:.1f} s")
    for name in names:
        t0 = time.perf_counter()
        paths = FIGURES[name](out, quick=quick, seed=seed, **options, **execution)
        click.echo(f"{name} done in {time.perf_counter() - t0:.1f} s:")
        for p in paths:
            click.echo(f"  {p}")
    if figure.lower() == "all":
        from .report import write_report

        click.echo(f"report -> {write_report(out)}")
        click.echo(f"all done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
