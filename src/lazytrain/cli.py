"""Command-line interface (wiring only).

``lazytrain run SPEC|PRESET --out DIR``, ``lazytrain results DIR``,
``lazytrain report DIR`` and ``lazytrain reproduce figK|all``.

Each command imports what it needs when it runs (``lazytrain --help`` loads
neither torch, Dask nor pydantic), and shares its options with the others:
``--out DIR``, ``--seed``, ``--progress/--no-progress``, ``--max-memory``,
``--executor``, ``--workers``, ``--scheduler`` and the ``--slurm-*`` options.
"""

from __future__ import annotations

import functools
import sys
import time

import click

from ._version import __version__
from .experiments.catalog import FIGURE_PRESETS, KIND_NAMES, PRESET_NAMES, listing


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lazytrain")
@click.option("--debug", is_flag=True, envvar="LAZYTRAIN_DEBUG",
              help="Show the full traceback of an error [also: LAZYTRAIN_DEBUG=1].")
def main(debug):
    """lazytrain: how far lazy training (RF, NT) falls behind real training (NN).

    Every risk is normalised by R0, the risk of the best constant predictor.
    """


def _raised_here(exc: BaseException) -> bool:
    """Whether lazytrain's own code raised ``exc`` (its innermost frame is in the package)."""
    import os

    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    package = os.path.dirname(os.path.abspath(__file__))
    return tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(package + os.sep)


def _expected(exc: BaseException) -> bool:
    """Whether an error is one a user can cause and fix, rather than a bug in lazytrain: bad input
    and files (ValueError, OSError), lazytrain's own errors (SpecError, StoreError, a PointError
    whose point failed that way, accuracy errors), and the RuntimeError, TypeError and
    ArithmeticError that lazytrain raises itself with a message (an unreachable scheduler, a
    solver that did not converge, an unknown option). Anything else (an AttributeError, a
    KeyError, an error from inside numpy or torch, ...) is a bug."""
    if type(exc).__module__.split(".")[0] == "lazytrain":
        cause = exc.__cause__  # a failed point: was the point's own error expected?
        return cause is None or not hasattr(exc, "point") or _expected(cause)
    if isinstance(exc, (ValueError, OSError, MemoryError)):
        return True
    return type(exc) in (RuntimeError, TypeError, ArithmeticError) and _raised_here(exc)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def _friendly_errors(fn):
    """Turn the toolkit's expected errors into one-line messages (exit code 1); any other error
    is named (its type) as a bug; ``--debug`` shows the full traceback of either."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # SpecError is a ValueError, StoreError and PointError are RuntimeErrors (caught here
        # without importing them: the reading commands must not load the whole toolkit)
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt as exc:
            from pathlib import Path

            out = kwargs.get("out")
            store = Path(out, "results.sqlite") if out else None
            how = "terminated (SIGTERM)" if getattr(exc, "exit_code", None) else "interrupted"
            if store is not None and store.exists():
                click.echo(f"\n{how}: the finished points are stored in {store}; run the same "
                           "command again to resume", err=True)
            else:
                click.echo(f"\n{how} before any point was stored", err=True)
            sys.exit(getattr(exc, "exit_code", 130))
        except Exception as exc:
            if _debug():
                raise
            if _expected(exc):
                raise click.ClickException(str(exc)) from None
            import traceback

            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            raise click.ClickException(
                f"internal error: {detail}\nThis is a bug, please report it (with the command, "
                "`lazytrain --version` and the traceback that `lazytrain --debug ...` or "
                "LAZYTRAIN_DEBUG=1 shows).") from None

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


#: --slurm-* options: (name, click keywords); their values become SlurmOptions' fields.
_SLURM_OPTIONS = (
    ("jobs", {"type": click.IntRange(min=1), "metavar": "N",
              "help": "Slurm worker jobs at once [default: 4, fewer for a small sweep]."}),
    ("cores", {"type": click.IntRange(min=1), "metavar": "N",
               "help": "Cores per job (--cpus-per-task); one single-threaded worker process per "
                       "core [default: 1]."}),
    ("memory", {"metavar": "SIZE", "callback": _size,
                "help": "Memory per job (--mem, e.g. 16GB) [default: the costliest point's estimate "
                        "plus 768 MiB, per worker process]. A point that cannot fit is refused "
                        "before anything is submitted."}),
    ("partition", {"metavar": "NAME", "help": "Partition (-p) [default: the cluster's]."}),
    ("walltime", {"metavar": "TIME", "help": "Time limit of each job (-t) [default: 04:00:00]; a "
                                             "job that reaches it is replaced."}),
    ("account", {"metavar": "NAME", "help": "Account to charge (-A) [default: yours]."}),
    ("sbatch", {"metavar": "OPTION", "multiple": True,
                "help": "Extra #SBATCH line, e.g. --slurm-sbatch=--qos=short (repeatable)."}),
    ("interface", {"metavar": "NAME", "help": "Network interface of the scheduler and workers "
                                              "(e.g. ib0; lo on one machine) [default: Dask's]."}),
    ("log-dir", {"metavar": "DIR", "help": "Folder of the jobs' output files [default: Slurm's, "
                                           "slurm-JOBID.out here]."}),
)


def _execution_options(fn):
    """--executor, --workers, --scheduler and --slurm-* (shared by run and reproduce)."""
    for name, kwargs in reversed(_SLURM_OPTIONS):
        fn = click.option(f"--slurm-{name}", f"slurm_{name.replace('-', '_')}", default=None,
                          **kwargs)(fn)
    fn = click.option("--scheduler", metavar="ADDRESS", default=None,
                      help="Address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                           "implies --executor dask.")(fn)
    fn = click.option("--workers", type=click.IntRange(min=1), default=None,
                      help="Worker processes (local, or the Dask LocalCluster's) "
                           "[default: the CPUs available].")(fn)
    fn = click.option("--executor", type=click.Choice(["local", "dask", "slurm"]), default=None,
                      help="Where the costly points run: local processes, Dask (a LocalCluster, "
                           "or --scheduler), or Dask workers in Slurm jobs submitted from here "
                           "(--slurm-*) [default: local].")(fn)
    return fn


def _execution(executor, workers, scheduler, **slurm) -> dict:
    if scheduler and executor in ("local", "slurm"):
        raise click.UsageError(f"--scheduler needs --executor dask (or no --executor), not {executor}")
    given = {k[len("slurm_"):]: v for k, v in slurm.items() if v not in (None, ())}
    if given and executor != "slurm":
        raise click.UsageError(f"--slurm-{next(iter(given)).replace('_', '-')} needs --executor slurm")
    if executor == "slurm":
        if workers is not None:
            raise click.UsageError("--workers does not apply to --executor slurm: use --slurm-jobs "
                                   "and --slurm-cores")
        from .experiments.slurm import SlurmOptions

        try:
            options = SlurmOptions(**{k: tuple(v) if k == "sbatch" else v for k, v in given.items()})
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return {"executor": "slurm", "workers": None, "scheduler": None, "slurm": options}
    return {"executor": "dask" if scheduler else (executor or "local"), "workers": workers,
            "scheduler": scheduler}


def _loading_limit(execution: dict, max_memory):
    """The memory limit to load specs with: with Slurm the points run on the compute nodes, so
    their memory is checked against the job's (by run_spec), not against this machine's."""
    if execution["executor"] == "slurm" and max_memory is None:
        return 2**62
    return max_memory


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
def run(spec, quick, out, seed, progress, max_memory, executor, workers, scheduler, **slurm):
    from .experiments.execute import run_spec
    from .experiments.presets import load_specs

    execution = _execution(executor, workers, scheduler, **slurm)
    specs = load_specs(spec, quick=quick, max_memory=_loading_limit(execution, max_memory))
    for s in specs:
        _echo_unavailable(s.unavailable())
    if seed is not None:
        specs = [s.with_updates(seeds=[seed]) for s in specs]
    summary = run_spec(specs if len(specs) > 1 else specs[0], out, progress=progress,
                       max_memory=max_memory, **execution)
    click.echo(f"{summary.spec_name}: {summary.total} points, {summary.skipped} already stored, "
               f"{summary.computed} computed in {summary.wall_s:.1f} s -> {out}/results.sqlite")
    click.echo(f"next: lazytrain results {out}   |   lazytrain report {out}", err=True)


run.help = f"""Compute the points of an experiment, resuming where a previous run stopped.

    SPEC is a TOML file or a preset: {listing(PRESET_NAMES)} (add --quick for
    the small variant). A figure's preset runs every point its figure needs: fig5
    its α sweep, fig6 its three panels. Each finished point is stored at once in
    DIR/results.sqlite; running again skips the stored points. An impossible spec,
    or one whose points cannot fit in memory, is refused before anything is
    written.
    """


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
      task, regime, activation, d, n_neurons, rho (N/d), kind ({KINDS}),
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

    if output is not None:
        ResultStore.check_not_store_file(directory, output)
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


results.help = results.help.replace("{KINDS}", ", ".join(KIND_NAMES))


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

    if output is not None:
        ResultStore.check_not_store_file(directory, output)
    with ResultStore.open(directory) as store:
        empty = len(store) == 0
    path = write_report(directory, output)
    if empty:
        click.echo(f"warning: {directory} holds no points yet; the report says so. Run "
                   f"`lazytrain run SPEC --out {directory}` first.", err=True)
    click.echo(f"report -> {path}")


@main.command()
@click.argument("figure", type=click.Choice([*FIGURE_PRESETS, "all"], case_sensitive=False))
@click.option("--quick", is_flag=True, help="Small dimension: a figure in seconds.")
@click.option("--task", "task", type=click.Choice(["paper", "mixture"]), default="paper",
              show_default=True, help="fig5 only: the quadratic target or the Gaussian mixture.")
@click.option("--activation", default="quadratic", show_default=True,
              help="fig5 only: the activation (e.g. relu).")
@_common_options
@_execution_options
@_friendly_errors
def reproduce(figure, quick, task, activation, out, seed, progress, max_memory, executor, workers,
              scheduler, **slurm):
    """Regenerate one of the paper's figures (PNG, PDF and a tidy CSV), or all and the report.

    The points go through the same machinery as `lazytrain run` (stored in
    DIR/results.sqlite; an interrupted reproduction resumes).
    """
    from .experiments.limits import max_memory as memory_limit
    from .reproduce import FIGURES, figure_specs

    seed = 0 if seed is None else seed
    execution = {**_execution(executor, workers, scheduler, **slurm), "max_memory": max_memory}
    loading_limit = _loading_limit(execution, max_memory)
    names = list(FIGURES) if figure.lower() == "all" else [figure.lower()]
    options = {}
    if (task, activation) != ("paper", "quadratic"):
        if names != ["fig5"]:
            raise click.UsageError("--task and --activation are options of fig5 only")
        options = {"task": task, "activation": activation}
    start = time.perf_counter()
    with memory_limit(loading_limit):
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
