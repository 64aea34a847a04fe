"""Experiments at scale: specs, points, a resumable result store, local and Dask execution.

A spec (:func:`load_spec`: a TOML file or a preset) expands into
independent points (:func:`expand`), each identified by a hash of what
determines its value. :func:`run_spec` computes the points not yet in the
output directory's SQLite store (:class:`ResultStore`), on local processes
or a Dask cluster, storing each as it finishes. :func:`tidy_rows` turns the
store into the tidy table.
"""

from .execute import EXECUTORS, PointError, RunSummary, run_spec
from .kinds import KINDS, THREADS_PER_POINT
from .points import Point, compute_point, expand
from .presets import PRESETS, load_spec, preset
from .results import TABLE_COLUMNS, export, tidy_rows
from .spec import ExperimentSpec, SpecError, validate_spec
from .store import ResultStore, StoreError
from .tasks import TASK_TYPES

__all__ = [
    "EXECUTORS", "ExperimentSpec", "KINDS", "PRESETS", "Point", "PointError", "ResultStore",
    "RunSummary", "SpecError", "StoreError", "TABLE_COLUMNS", "TASK_TYPES", "THREADS_PER_POINT",
    "compute_point", "expand", "export", "load_spec", "preset", "run_spec", "tidy_rows",
    "validate_spec",
]
