"""Experiments at scale: specs, points, a resumable result store, local and Dask execution.

A spec (:func:`load_spec`: a TOML file or a preset) expands into
independent points (:func:`expand`), each identified by a hash of what
determines its value. :func:`run_spec` computes the points not yet in the
output directory's SQLite store (:class:`ResultStore`), on local processes
or a Dask cluster, storing each as it finishes. :func:`tidy_rows` turns the
store into the tidy table.

The names below are imported when first used (PEP 562): reading a store
(``lazytrain results``) needs neither pydantic, torch nor Dask.
"""

from importlib import import_module

_EXPORTS = {
    "EXECUTORS": "execute", "PointError": "execute", "RunSummary": "execute", "run_spec": "execute",
    "KINDS": "kinds", "THREADS_PER_POINT": "kinds",
    "Point": "points", "compute_point": "points", "expand": "points",
    "PRESETS": "presets", "load_spec": "presets", "preset": "presets",
    "TABLE_COLUMNS": "results", "export": "results", "tidy_rows": "results",
    "ExperimentSpec": "spec", "SpecError": "spec", "validate_spec": "spec",
    "ResultStore": "store", "StoreError": "store",
    "TASK_TYPES": "tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lazytrain.experiments' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
