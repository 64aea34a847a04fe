"""Command-line interface (wiring only).

``lazytrain run SPEC|PRESET --out DIR``, ``lazytrain results DIR``,
``lazytrain report DIR`` and ``lazytrain reproduce figK|all``.

Each command imports what it needs when it runs (``lazytrain --help`` loads
neither torch, Dask nor pydantic), and shares its options with the others:
``--out DIR``, ``--seed``, ``--progress/--no-progress``, ``--max-memory``,
``--executor``, ``--workers``, ``--scheduler``.
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
        # SpecError is a ValueError, StoreError and PointError are RuntimeErrors (caught here
        # without importing them: the reading commands must not load the whole toolkit)
        try:
            return fn(*args, **kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            out = kwargs.get("out")
            where = f" in {out}/results.sqlite" if out else ""
            click.echo(f"\ninterrupted: the finished points are stored{where}; run the same "
                       "command again to resume", err=True)
            sys.exit(130)

    return wrapper


def _size(ctx, param, value):
    if value is None:
        return None
    from .experiments.limits import parse_size

    try:
        parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _common_options(fn):
    """--out, --seed, --progress and --max-memory, the same wherever they appear."""
    fn = click.option("--max-memory", "max_memory", metavar="SIZE", default=None, callback=_size,
                      help="Refuse points estimated to need more memory than SIZE (e.g. 8GB) "
                           "[default: $LAZYTRAIN_MAX_MEMORY, or the memory available].")(fn)
    fn = click.option("--progress/--no-progress", default=True, show_default=True,
                      help="Progress bar (points done, time left) on standard error.")(fn)
    fn = click.option("--seed", type=click.IntRange(min=0), default=None,
                      help="Use this one seed (of the random weights and of training) instead "
                           "of the spec's seeds [default: the spec's; 0 for reproduce].")(fn)
    fn = click.option("--out", "out", metavar="DIR", type=click.Path(file_okay=False),
                      default="lazytrain-out", show_default=True,
                      help="Output directory; its results.sqlite keeps every finished point.")(fn)
    return fn


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


def _echo_unavailable(entries) -> None:
    """Say, before running, which points have no value and why (they are left out)."""
    for u in entries:
        click.echo(f"skipping {u['kind']} {u['regime']} σ={u['activation']} "
                   f"(N = {', '.join(map(str, u['n_neurons']))}): {u['reason']}", err=True)


@main.command()
@click.argument("spec", metavar="SPEC|PRESET")
@click.option("--quick", is_flag=True, help="With a preset: its small, fast variant.")
@_common_options
@_execution_options
@_friendly_errors
def run(spec, quick, out, seed, progress, max_memory, executor, workers, scheduler):
    """Compute the points of an experiment, resuming where a previous run stopped.

    SPEC is a TOML file or a preset: fig1, fig2, fig3, fig4 (add --quick for the
    small variant). Each finished point is stored at once in DIR/results.sqlite;
    running again skips the stored points. An impossible spec, or one whose
    points cannot fit in memory, is refused before anything is written.
    """
    from .experiments.execute import run_spec
    from .experiments.presets import load_spec

    spec_obj = load_spec(spec, quick=quick, max_memory=max_memory)
    _echo_unavailable(spec_obj.unavailable())
    if seed is not None:
        spec_obj = spec_obj.with_updates(seeds=[seed])
    summary = run_spec(spec_obj, out, progress=progress, max_memory=max_memory,
                       **_execution(executor, workers, scheduler))
    click.echo(f"{summary.spec_name}: {summary.total} points, {summary.skipped} already stored, "
               f"{summary.computed} computed in {summary.wall_s:.1f} s -> {out}/results.sqlite")
    click.echo(f"next: lazytrain results {out}   |   lazytrain report {out}", err=True)


@main.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet", "sqlite"]),
              default="csv", show_default=True,
              help="Output format (parquet needs pandas and pyarrow; sqlite: a self-contained "
                   "copy of the store, every committed point, to --output FILE).")
@click.option("--output", "output", metavar="FILE", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE instead of standard output.")
@_friendly_errors
def results(directory, fmt, output):
    """Print the tidy table of every point stored in DIR (read-only: DIR is never written).

    \b
    Columns, in order:
      task, regime, activation, d, n_neurons, rho (N/d), kind (theory, exact, sgd),
      seed (empty for theory), risk (R/R0);
      the point's settings: for SGD points steps, lr, batch_size, dtype, method,
      device and any other training option, cotrained (the widths trained together);
      extra values: error (mixture 0-1 error), samples, risk_method, risk_se,
      weight_change (SGD);
      task_params (the task's label) and key (SHA-256 of the point's identity).

    To copy a store, copy DIR/results.sqlite after a clean exit, or write a
    clean copy with --format sqlite --output FILE (safe at any time).
    """
    from .experiments.results import export, tidy_rows
    from .experiments.store import ResultStore

    if fmt == "sqlite":
        if output is None:
            raise click.UsageError("--format sqlite writes a database file: give --output FILE")
        with ResultStore.open(directory) as store:
            store.backup_to(output)
            count = len(store)
        click.echo(f"{count} points -> {output}", err=True)
        return
    with ResultStore.open(directory) as store:
        rows = tidy_rows(store.records())
    text = export(rows, fmt, output)
    if text is not None:
        sys.stdout.write(text)
    else:
        click.echo(f"{len(rows)} rows -> {output}", err=True)


@main.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--output", "output", metavar="FILE", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: DIR/report.html, or ./DIRNAME-report.html "
                   "when DIR is read-only].")
@_friendly_errors
def report(directory, output):
    """Write a self-contained HTML report of the points stored in DIR.

    Figures (embedded), theory-against-exact-against-SGD tables (points with
    different settings are never averaged together), the runs (with how each
    ended) and the provenance of every point.
    """
    from .experiments.store import ResultStore
    from .report import write_report

    with ResultStore.open(directory) as store:
        empty = len(store) == 0
    path = write_report(directory, output)
    if empty:
        click.echo(f"warning: {directory} holds no points yet; the report says so. Run "
                   f"`lazytrain run SPEC --out {directory}` first.", err=True)
    click.echo(f"report -> {path}")


@main.command()
@click.argument("figure", type=click.Choice(["fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "all"],
                                          case_sensitive=False))
@click.option("--quick", is_flag=True, help="Small dimension: a figure in seconds.")
@click.option("--task", "task", type=click.Choice(["paper", "mixture"]), default="paper",
              show_default=True, help="fig5 only: the quadratic target or the Gaussian mixture.")
@click.option("--activation", default="quadratic", show_default=True,
              help="fig5 only: the activation (e.g. relu).")
@_common_options
@_execution_options
@_friendly_errors
def reproduce(figure, quick, task, activation, out, seed, progress, max_memory, executor, workers,
              scheduler):
    """Regenerate one of the paper's figures (PNG, PDF and a tidy CSV), or all and the report.

    The points go through the same machinery as `lazytrain run` (stored in
    DIR/results.sqlite; an interrupted reproduction resumes).
    """
    from .experiments.limits import max_memory as memory_limit
    from .reproduce import FIGURES, figure_specs

    seed = 0 if seed is None else seed
    execution = {**_execution(executor, workers, scheduler), "max_memory": max_memory}
    names = list(FIGURES) if figure.lower() == "all" else [figure.lower()]
    options = {}
    if (task, activation) != ("paper", "quadratic"):
        if names != ["fig5"]:
            raise click.UsageError("--task and --activation are options of fig5 only")
        options = {"task": task, "activation": activation}
    start = time.perf_counter()
    with memory_limit(max_memory):
        if len(names) > 1:  # one sweep: the figures' points share the workers, costliest first
            from .experiments.execute import run_spec
            from .experiments.presets import staircase_specs

            specs = ([s for n in names for s in figure_specs(n, quick, seed)]
                     + (staircase_specs(quick) if "fig4" in names else []))
            summary = run_spec(specs, out, progress=progress, **execution)
            click.echo(f"{summary.total} points, {summary.skipped} already stored, "
                       f"{summary.computed} computed in {summary.wall_s:.1f} s")
        for name in names:
            t0 = time.perf_counter()
            paths = FIGURES[name](out, quick=quick, seed=seed, progress=progress, **options,
                                  **execution)
            click.echo(f"{name} done in {time.perf_counter() - t0:.1f} s:")
            for p in paths:
                click.echo(f"  {p}")
    if figure.lower() == "all":
        from .report import write_report

        click.echo(f"report -> {write_report(out)}")
        click.echo(f"all done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
