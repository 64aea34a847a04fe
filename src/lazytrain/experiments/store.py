"""The result store: one SQLite file in the output directory.

Every finished point is one row, inserted in its own transaction, so a run
killed at any moment (SIGKILL included) leaves only whole points: SQLite in
write-ahead-log mode ignores a transaction that did not commit the next time
the file is opened. (WAL needs the store on a local disk, not a network file
system; only the driver touches it, never the workers.) The row's primary key is the point's hash, so no point can
be stored twice. A file in the store's place that is not a lazytrain store
(another SQLite database, a corrupt file, anything else) is reported and
never written to.

Only the driver of a sweep writes; a lock file next to the store stops two
drivers from sharing one output directory at the same time.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import sqlite3
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from ..records import set_default_mode

STORE_NAME = "results.sqlite"
FORMAT = "lazytrain-results"
SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    spec_name TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    executor TEXT NOT NULL,
    workers INTEGER,
    package_version TEXT,
    git_commit TEXT,
    host TEXT
);
CREATE TABLE points (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    task_params TEXT NOT NULL,
    regime TEXT NOT NULL,
    activation TEXT NOT NULL,
    d INTEGER NOT NULL,
    n_neurons INTEGER NOT NULL,
    rho REAL NOT NULL,
    kind TEXT NOT NULL,
    seed INTEGER,
    risk REAL,
    extra_json TEXT NOT NULL,
    point_json TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    package_version TEXT,
    git_commit TEXT,
    device TEXT,
    host TEXT,
    wall_s REAL,
    finished_at TEXT NOT NULL
);
"""

#: Columns of a provenance record, in order (see :meth:`ResultStore.records`).
RECORD_COLUMNS = ("key", "task", "task_params", "regime", "activation", "d", "n_neurons", "rho",
                  "kind", "seed", "risk", "extra_json", "point_json", "run_id", "package_version",
                  "git_commit", "device", "host", "wall_s", "finished_at")


class StoreError(RuntimeError):
    """The output directory's result store is missing, foreign, corrupt or in use."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of lazytrain's own git checkout ('+dirty' if modified), or None.

    None when the package is not running from a git checkout of lazytrain
    (e.g. installed from a wheel).
    """
    package = Path(__file__).resolve().parents[1]

    def git(*args):
        out = subprocess.run(["git", *args], cwd=package, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""

    try:
        top = git("rev-parse", "--show-toplevel")
        if not top or Path(top).resolve() / "src" / "lazytrain" != package:
            return None
        return git("describe", "--always", "--dirty=+dirty", "--abbrev=40") or None
    except (OSError, subprocess.SubprocessError):
        return None


class ResultStore:
    """The SQLite result store of one output directory.

    Use :meth:`open` (existing store, for reading) or :meth:`open_or_create`
    (for a run). Both check that the file really is a lazytrain store.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    # ------------------------------------------------------------------ opening
    @staticmethod
    def path_in(out_dir) -> Path:
        return Path(out_dir) / STORE_NAME

    @classmethod
    def open(cls, out_dir) -> "ResultStore":
        """Open the existing store of ``out_dir``; StoreError if there is none or it is not ours."""
        out_dir = Path(out_dir)
        path = cls.path_in(out_dir)
        if not out_dir.is_dir():
            raise StoreError(f"{str(out_dir)!r} is not a directory of lazytrain results "
                             "(run `lazytrain run SPEC --out DIR` first)")
        if not path.exists():
            raise StoreError(f"no result store in {str(out_dir)!r} (expected {str(path)!r}); "
                             "run `lazytrain run SPEC --out DIR` first")
        return cls._open_existing(path)

    @classmethod
    def open_or_create(cls, out_dir) -> "ResultStore":
        """Open the store of ``out_dir``, creating the directory and an empty store if needed."""
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise StoreError(f"--out {str(out_dir)!r} exists and is not a directory; "
                             "it was left untouched")
        out_dir.mkdir(parents=True, exist_ok=True)
        path = cls.path_in(out_dir)
        if not path.exists() and not path.is_symlink():
            cls._create(path)
        return cls._open_existing(path)

    @staticmethod
    def _create(path: Path) -> None:
        """Build an empty store in a temporary file, then link it into place (never overwrites)."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        set_default_mode(tmp)
        try:
            conn = sqlite3.connect(tmp)
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
            with conn:
                conn.executescript(_SCHEMA)
                conn.executemany("INSERT INTO meta VALUES (?, ?)",
                                 [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)),
                                  ("created_at", _now())])
            conn.close()
            try:
                os.link(tmp, path)  # fails if something appeared at path meanwhile
            except FileExistsError:
                pass  # someone else created it: _open_existing checks what it is
            except OSError:  # file systems without hard links
                if not path.exists():
                    os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    @classmethod
    def _open_existing(cls, path: Path) -> "ResultStore":
        where = f"{str(path)!r}"
        keep = "It was left untouched: move it away or choose another output directory."
        if not path.is_file():
            raise StoreError(f"{where} is not a regular file, so not a lazytrain result store. {keep}")
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
        if head != _SQLITE_HEADER:
            what = "empty" if not head else f"starts with {head[:16]!r}"
            raise StoreError(f"{where} is not a lazytrain result store: it is not an SQLite "
                             f"database ({what}). {keep}")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=60)
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(conn.execute("SELECT name, value FROM meta")) if "meta" in tables else {}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{where} is a corrupt SQLite file ({exc}). {keep}") from None
        if meta.get("format") != FORMAT or not {"points", "runs"} <= tables:
            conn.close()
            raise StoreError(f"{where} is an SQLite database but not a lazytrain result store "
                             f"(tables {sorted(tables)}). {keep}")
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{where} was written by a newer lazytrain (store schema {version}, "
                             f"this version reads {SCHEMA_VERSION}); upgrade lazytrain")
        conn.execute("PRAGMA foreign_keys = ON")
        # WAL: a commit is atomic and survives a killed process without an fsync per point;
        # readers (`lazytrain results` during a run) never block the writer.
        conn.execute("PRAGMA synchronous = NORMAL")
        return cls(path, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the directory's run lock (one driver at a time); StoreError if taken."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock (Windows): no cross-process guard
            yield
            return
        with open(lock_path, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"another `lazytrain run` is writing to {str(self.path.parent)!r}; "
                                 "wait for it or choose another output directory") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ writing
    def begin_run(self, specs, executor: str, workers: int | None) -> int:
        """Record the start of a run (its spec or specs, executor); return its id."""
        from .._version import __version__

        specs = list(specs) if isinstance(specs, (list, tuple)) else [specs]
        name = "+".join(s.name for s in specs)
        spec_json = (specs[0].model_dump_json() if len(specs) == 1 else
                     json.dumps([s.model_dump(mode="json") for s in specs]))
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, spec_name, spec_json, executor, workers, "
                "package_version, git_commit, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), name, spec_json, executor, workers, __version__, git_commit(),
                 platform.node()))
        return int(cur.lastrowid)

    def _row(self, point, result: dict, run_id: int) -> tuple:
        return (point.key, point.task_family, point.task_params, point.regime, point.activation,
                point.d, point.n_neurons, point.rho, point.kind, point.seed, result["risk"],
                json.dumps(result.get("extra") or {}), json.dumps(point.identity(), sort_keys=True),
                run_id, result.get("package_version"), git_commit(), result.get("device"),
                result.get("host"), result.get("wall_s"), _now())

    def add(self, point, result: dict, run_id: int) -> None:
        """Store one finished point, in its own transaction."""
        self.add_many([(point, result)], run_id)

    def add_many(self, items, run_id: int) -> None:
        """Store several finished points in one transaction (all or none)."""
        rows = [self._row(p, r, run_id) for p, r in items]
        marks = ", ".join("?" * len(RECORD_COLUMNS))
        with self.conn:
            self.conn.executemany(f"INSERT INTO points ({', '.join(RECORD_COLUMNS)}) "
                                  f"VALUES ({marks})", rows)

    # ------------------------------------------------------------------ reading
    def keys(self) -> set[str]:
        """Keys of the stored points."""
        return {r[0] for r in self.conn.execute("SELECT key FROM points")}

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def records(self, keys=None) -> list[dict]:
        """Full provenance records of the stored points (optionally only ``keys``)."""
        cur = self.conn.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM points")
        wanted = None if keys is None else set(keys)
        out = []
        for row in cur:
            rec = dict(zip(RECORD_COLUMNS, row))
            if wanted is not None and rec["key"] not in wanted:
                continue
            rec["risk"] = math.nan if rec["risk"] is None else rec["risk"]  # SQLite stores NaN as NULL
            out.append(rec)
        return out

    def runs(self) -> list[dict]:
        cur = self.conn.execute("SELECT run_id, started_at, spec_name, spec_json, executor, workers, "
                                "package_version, git_commit, host FROM runs ORDER BY run_id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur]
