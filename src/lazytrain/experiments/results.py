"""The tidy results table: stored points as rows, and their export (CSV, JSON, Parquet)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..records import COLUMNS, KINDS, atomic_write_text

#: Columns of every tidy table: the standard ones, the task's label and the point's key
#: (extra values of some points, e.g. the mixture's 0-1 ``error``, come between them).
TABLE_COLUMNS = COLUMNS + ("task_params", "key")
FORMATS = ("csv", "json", "parquet")


#: Entries of a point's identity that are columns already (or the task, shown as task_params).
_CORE_IDENTITY = frozenset({"schema", "task", "regime", "activation", "n_neurons", "kind", "seed"})


def _scalars(extra_json: str) -> dict:
    extra = json.loads(extra_json or "{}")
    return {k: v for k, v in extra.items()
            if k not in TABLE_COLUMNS and (v is None or isinstance(v, (int, float, str, bool)))}


def _cell(value):
    """A setting as a table cell: lists joined with '+' (e.g. the widths trained together)."""
    if isinstance(value, (list, tuple)):
        return "+".join(str(_cell(v)) for v in value)
    return value


def settings_of(point_json) -> dict:
    """The settings of a point: every entry of its identity that is not a standard column.

    Generic: whatever a kind hashes into the identity besides the task,
    regime, activation, N, kind and seed (the training options of an SGD
    point: steps, lr, batch_size, dtype, method, ...; the widths it was
    trained with) is a setting. Nested tables are flattened to their leaf
    names ('training.steps' -> 'steps'), keeping the prefix only on a clash.
    Settings are columns of the tidy table, and the report never averages
    points whose settings differ.
    """
    identity = json.loads(point_json) if isinstance(point_json, str) else dict(point_json or {})
    out: dict = {}

    def put(name, prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                put(k, f"{prefix}{name}.", v)
            return
        if value is None:
            return
        key = name if name not in out and name not in TABLE_COLUMNS else f"{prefix}{name}"
        out[key] = _cell(value)

    for name, value in identity.items():
        if name not in _CORE_IDENTITY:
            put(name, "", value)
    return out


def tidy_rows(records) -> list[dict]:
    """Store records (see :meth:`ResultStore.records`) as tidy rows, in a stable order.

    Sorted by task, activation, regime, kind (theory, exact, sgd), N, the
    settings and seed. Theory rows have ``seed = ''`` (they depend on no
    seed). The point's settings (:func:`settings_of`: for SGD points steps,
    lr, batch_size, dtype, method, ...) and its scalar extra values (e.g. the
    mixture's 0-1 ``error``) become columns after ``risk``.
    """
    rows = []
    for rec in records:
        row = {c: ("" if c == "seed" and rec[c] is None else rec[c]) for c in COLUMNS}
        settings = settings_of(rec.get("point_json") or "{}")
        row.update(settings)
        row.update({k: v for k, v in _scalars(rec.get("extra_json")).items() if k not in settings})
        if row.get("risk_method") == "monte-carlo":  # stores written before 'monte_carlo' (fit's)
            row["risk_method"] = "monte_carlo"
        row.update(task_params=rec["task_params"], key=rec["key"])
        row["_settings"] = json.dumps(settings, sort_keys=True)
        rows.append(row)
    order = {k: i for i, k in enumerate(KINDS)}
    rows.sort(key=lambda r: (r["task"], r["task_params"], r["activation"], r["regime"],
                             order.get(r["kind"], 99), r["n_neurons"], r["_settings"],
                             -1 if r["seed"] == "" else r["seed"]))
    for r in rows:
        del r["_settings"]
    return rows


def columns(rows) -> list[str]:
    """The table's columns: the standard ones, the settings and extra values, task_params, key."""
    extra = dict.fromkeys(k for r in rows for k in r if k not in TABLE_COLUMNS)
    return list(COLUMNS) + list(extra) + ["task_params", "key"]


def to_csv(rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)  # floats as repr: the shortest exact round trip
    return buf.getvalue()


def to_json(rows) -> str:
    """A list of records with every column (missing extras and non-finite floats as null)."""
    cols = columns(rows)
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in ((c, r.get(c)) for c in cols)} for r in rows]
    return json.dumps(clean, indent=1) + "\n"


def write_parquet(rows, path: Path) -> Path:
    """Write the rows as Parquet (needs pandas and pyarrow: ``pip install 'lazytrain[parquet]'``)."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        raise RuntimeError("Parquet output needs pandas and pyarrow, which are not installed: "
                           "pip install 'lazytrain[parquet]' (or use --format csv/json)") from None
    frame = pd.DataFrame(rows, columns=columns(rows))
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def export(rows, fmt: str, output=None) -> str | None:
    """Render the rows as ``fmt``; write them to ``output`` or return the text.

    Parquet is binary and needs ``output``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        if output is None:
            raise ValueError("--format parquet writes a binary file: give --output FILE")
        write_parquet(rows, output)
        return None
    text = to_csv(rows) if fmt == "csv" else to_json(rows)
    if output is None:
        return text
    atomic_write_text(Path(output), text)
    return None
