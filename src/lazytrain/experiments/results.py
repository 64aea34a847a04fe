"""The tidy results table: stored points as rows, and their export (CSV, JSON, Parquet)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..records import COLUMNS, KINDS, atomic_write_text

#: Columns of the tidy table: the standard ones, then the task's label and the point's key.
TABLE_COLUMNS = COLUMNS + ("task_params", "key")
FORMATS = ("csv", "json", "parquet")


def tidy_rows(records) -> list[dict]:
    """Store records (see :meth:`ResultStore.records`) as tidy rows, in a stable order.

    Sorted by task, activation, regime, kind (theory, exact, sgd), N and seed.
    Theory rows have ``seed = ''`` (they depend on no seed).
    """
    rows = [{c: ("" if c == "seed" and rec[c] is None else rec[c]) for c in TABLE_COLUMNS}
            for rec in records]
    order = {k: i for i, k in enumerate(KINDS)}
    rows.sort(key=lambda r: (r["task"], r["task_params"], r["activation"], r["regime"],
                             order.get(r["kind"], 99), r["n_neurons"],
                             -1 if r["seed"] == "" else r["seed"]))
    return rows


def to_csv(rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(TABLE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)  # floats as repr: the shortest exact round trip
    return buf.getvalue()


def to_json(rows) -> str:
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in r.items()} for r in rows]
    return json.dumps(clean, indent=1) + "\n"


def write_parquet(rows, path: Path) -> Path:
    """Write the rows as Parquet (needs pandas and pyarrow: ``pip install 'lazytrain[parquet]'``)."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        raise RuntimeError("Parquet output needs pandas and pyarrow, which are not installed: "
                           "pip install 'lazytrain[parquet]' (or use --format csv/json)") from None
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
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
