"""The tidy results table: one row per (task, regime, activation, d, N, seed, kind) point."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

#: Column order of every tidy table the toolkit writes.
COLUMNS = ("task", "regime", "activation", "d", "n_neurons", "rho", "kind", "seed", "risk")

#: The ways to get a risk, in the order they are shown ('fit': fitted on n samples).
KINDS = ("theory", "exact", "sgd", "fit")


def make_row(task: str, regime: str, activation: str, d: int, n_neurons: int, kind: str,
             risk: float, seed=None, **extra) -> dict:
    """One row of the tidy table; ``rho = n_neurons / d`` is filled in."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    row = {"task": task, "regime": regime, "activation": activation, "d": int(d),
           "n_neurons": int(n_neurons), "rho": n_neurons / d, "kind": kind,
           "seed": "" if seed is None else seed, "risk": float(risk)}
    row.update(extra)
    return row


def set_default_mode(path) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600) the usual 0666 & ~umask."""
    try:  # Linux: read the umask without changing it (os.umask is not thread-safe)
        with open("/proc/self/status") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
        set_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(rows: list[dict], path: Path) -> Path:
    """Write the tidy rows as CSV (the standard columns first, extra columns after)."""
    import io

    extra = [k for r in rows for k in r if k not in COLUMNS]
    fields = list(COLUMNS) + list(dict.fromkeys(extra))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, restval="", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)  # floats are written with repr: shortest exact round trip
    atomic_write_text(Path(path), buf.getvalue())
    return Path(path)
