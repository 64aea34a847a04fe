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

At rest the store is one self-contained file: a writer checkpoints the
write-ahead log into it when it opens the store (recovering what a killed
run committed) and when it closes it, and then leaves the file in rollback
journal mode. Copy ``results.sqlite`` alone after a clean exit; after a
crash, copy ``results.sqlite-wal`` with it, or write a clean copy with
``lazytrain results DIR --format sqlite --output FILE`` (works on a store
in a read-only directory too). Reading commands open the store read-only.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import shutil
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
    host TEXT,
    status TEXT,
    finished_at TEXT
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


#: Columns added to the runs table after the first release (added to older stores on writing).
_RUN_COLUMNS_ADDED = {"status": "TEXT", "finished_at": "TEXT"}

#: Columns every lazytrain store has had since the first release (a file with our meta table
#: but without them is not a store this version may read or write).
_REQUIRED_COLUMNS = {
    "points": set(RECORD_COLUMNS),
    "runs": {"run_id", "started_at", "spec_name", "spec_json", "executor", "workers",
             "package_version", "git_commit", "host"},
}

#: The files SQLite keeps next to a store (never a place to write an export or a report).
COMPANION_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")


class StoreError(RuntimeError):
    """The output directory's result store is missing, foreign, corrupt, read-only or in use."""


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


def _writable(path: Path) -> bool:
    """Whether the store file and its directory can be written (WAL and lock files live there)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _scratch_copy(path: Path):
    """Open a private copy of a store and its write-ahead log (a store we may not write to)."""
    scratch = tempfile.TemporaryDirectory(prefix="lazytrain-store-")
    copy = Path(scratch.name) / path.name
    try:
        shutil.copyfile(path, copy)
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        return sqlite3.connect(str(copy), timeout=60), scratch
    except BaseException:
        scratch.cleanup()
        raise


class ResultStore:
    """The SQLite result store of one output directory.

    Use :meth:`open` (existing store, for reading) or :meth:`open_or_create`
    (for a run). Both check that the file really is a lazytrain store.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool = False, scratch=None):
        self.path = path
        self.conn = conn
        self.readonly = readonly
        self._scratch = scratch  # a temporary copy's directory (read-only stores in WAL mode)

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
        # in a directory we may not write, read a private copy: SQLite would otherwise rewrite
        # the -shm file of a store left in WAL mode (readers write nothing next to the store)
        return cls._open_existing(path, readonly=True, private=not _writable(path))

    @staticmethod
    def check_not_store_file(out_dir, target, option: str = "--output") -> None:
        """StoreError if writing ``target`` would overwrite the store of ``out_dir`` or one of
        its companion files (``-wal``, ``-shm``, ``-journal``, the lock)."""
        store = ResultStore.path_in(out_dir)
        target = Path(target)
        for suffix in COMPANION_SUFFIXES:
            companion = store.with_name(store.name + suffix)
            try:
                same = (os.path.samefile(target, companion) if target.exists() and companion.exists()
                        else target.resolve() == companion.resolve())
            except OSError:
                same = False
            if same:
                raise StoreError(f"{option} {str(target)!r} is the result store's own file "
                                 f"{str(companion)!r}; writing there would destroy the store. "
                                 "Choose another file.")

    @classmethod
    def open_or_create(cls, out_dir) -> "ResultStore":
        """Open the store of ``out_dir`` for writing, creating the directory and an empty store
        if needed. A store that cannot be written (read-only file or directory) is opened
        read-only (``store.readonly``): a run with nothing left to compute still works."""
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise StoreError(f"--out {str(out_dir)!r} exists and is not a directory; "
                             "it was left untouched")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the output directory {str(out_dir)!r}: "
                             f"{exc.strerror or exc}") from None
        path = cls.path_in(out_dir)
        if not path.exists() and not path.is_symlink():
            try:
                cls._create(path)
            except OSError as exc:
                raise StoreError(f"cannot create a result store in {str(out_dir)!r}: "
                                 f"{exc.strerror or exc}") from None
        writable = _writable(path)
        return cls._open_existing(path, readonly=not writable, private=not writable)

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
    def _open_existing(cls, path: Path, readonly: bool = False, private: bool = False) -> "ResultStore":
        where = f"{str(path)!r}"
        keep = "It was left untouched: move it away or choose another output directory."
        if not path.is_file():
            raise StoreError(f"{where} is not a regular file, so not a lazytrain result store. {keep}")
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise StoreError(f"cannot read {where}: {exc.strerror or exc}") from None
        if head != _SQLITE_HEADER:
            what = "empty" if not head else f"starts with {head[:16]!r}"
            raise StoreError(f"{where} is not a lazytrain result store: it is not an SQLite "
                             f"database ({what}). {keep}")
        scratch = None
        try:
            conn = None
            if not private:
                try:
                    conn = sqlite3.connect(f"file:{path}?mode={'ro' if readonly else 'rw'}",
                                           uri=True, timeout=60)
                    check = conn.execute("PRAGMA quick_check").fetchall()[0][0]
                except sqlite3.OperationalError:
                    if not readonly:
                        raise
                    if conn is not None:
                        conn.close()
                    conn = None
            if conn is None:
                # A store we may not write next to (read-only directory), or one left in WAL
                # mode (a killed run) where SQLite cannot make its shared-memory file: read a
                # private copy of the store and its log (which holds the killed run's
                # committed points), so that nothing next to the store is written.
                conn, scratch = _scratch_copy(path)
                check = conn.execute("PRAGMA quick_check").fetchall()[0][0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(conn.execute("SELECT name, value FROM meta")) if "meta" in tables else {}
            missing = {t: sorted(cols - {r[1] for r in conn.execute(f"PRAGMA table_info({t})")})
                       for t, cols in _REQUIRED_COLUMNS.items() if t in tables}
        except sqlite3.DatabaseError as exc:
            if scratch is not None:
                scratch.cleanup()
            raise StoreError(f"{where} is a corrupt SQLite file ({exc}). {keep}") from None
        if meta.get("format") != FORMAT or not {"points", "runs"} <= tables:
            conn.close()
            raise StoreError(f"{where} is an SQLite database but not a lazytrain result store "
                             f"(tables {sorted(tables)}). {keep}")
        missing = {t: cols for t, cols in missing.items() if cols}
        if missing:
            conn.close()
            if scratch is not None:
                scratch.cleanup()
            what = "; ".join(f"table {t} lacks {', '.join(cols)}" for t, cols in missing.items())
            raise StoreError(f"{where} has lazytrain's meta table but not its schema ({what}), "
                             f"so it is not a store this version can read or write. {keep}")
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{where} was written by a newer lazytrain (store schema {version}, "
                             f"this version reads {SCHEMA_VERSION}); upgrade lazytrain")
        if readonly:
            return cls(path, conn, readonly=True, scratch=scratch)
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            # WAL: a commit is atomic and survives a killed process without an fsync per point;
            # readers (`lazytrain results` during a run) never block the writer. Checkpoint at
            # once: what a killed run committed moves from the log into the store file.
            # (checkpoint first: right after switching into WAL, SQLite refuses to)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute("PRAGMA synchronous = NORMAL")
            columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
            with conn:
                for name, sql_type in _RUN_COLUMNS_ADDED.items():
                    if name not in columns:
                        conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {sql_type}")
        except sqlite3.OperationalError as exc:
            conn.close()
            raise StoreError(f"cannot write to {where} ({exc})") from None
        return cls(path, conn)

    def close(self) -> None:
        """Close the store; a writer first checkpoints the log into the store file and leaves
        it in rollback-journal mode, so that the file alone is the whole store."""
        if not self.readonly:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                self.conn.execute("PRAGMA journal_mode = DELETE")  # fails harmlessly if a reader is in
        self.conn.close()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def run_in_progress(self) -> bool:
        """Whether a `lazytrain run` holds this directory's run lock now."""
        try:
            import fcntl

            with open(self.lock_path, "rb") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(fh, fcntl.LOCK_UN)
        except (ImportError, OSError):
            pass
        return False

    def backup_to(self, target) -> Path:
        """Write a self-contained copy of the store (every committed point) to ``target``."""
        target = Path(target)
        if target.exists():
            raise StoreError(f"{str(target)!r} exists; choose a new file for the copy")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
        try:
            set_default_mode(tmp)
            dest = sqlite3.connect(tmp)
            try:
                self.conn.backup(dest)
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the directory's run lock (one driver at a time); StoreError if taken."""
        lock_path = self.lock_path
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock (Windows): no cross-process guard
            yield
            return
        try:
            fh = open(lock_path, "a")
        except OSError as exc:
            raise StoreError(f"cannot write to {str(self.path.parent)!r} "
                             f"({exc.strerror or exc}); the store there is read-only") from None
        with fh:
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
        """Record the start of a run (its spec or specs, executor, workers); return its id.

        The run's status is 'running' until :meth:`end_run` records how it ended.
        """
        from .._version import __version__

        specs = list(specs) if isinstance(specs, (list, tuple)) else [specs]
        name = "+".join(s.name for s in specs)
        spec_json = (specs[0].model_dump_json() if len(specs) == 1 else
                     json.dumps([s.model_dump(mode="json") for s in specs]))
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, spec_name, spec_json, executor, workers, "
                "package_version, git_commit, host, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), name, spec_json, executor, workers, __version__, git_commit(),
                 platform.node(), "running"))
        return int(cur.lastrowid)

    def set_run_workers(self, run_id: int, workers: int) -> None:
        """Record the number of workers a run got (e.g. once a Dask scheduler answered)."""
        with self.conn:
            self.conn.execute("UPDATE runs SET workers = ? WHERE run_id = ?", (workers, run_id))

    def end_run(self, run_id: int, status: str) -> None:
        """Record how a run ended: 'done', 'interrupted' (Ctrl-C), 'terminated' (SIGTERM) or 'failed: <why>'."""
        with self.conn:
            self.conn.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                              (status, _now(), run_id))

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
        """The runs that filled the store, oldest first.

        ``status``: 'done', 'failed: ...', 'interrupted', 'terminated', 'running' (a run
        holds the directory's lock now) or 'killed' (a run that stopped
        without recording how, e.g. SIGKILL or a power cut).
        """
        present = {r[1] for r in self.conn.execute("PRAGMA table_info(runs)")}
        wanted = ["run_id", "started_at", "spec_name", "spec_json", "executor", "workers",
                  "package_version", "git_commit", "host", "status", "finished_at"]
        cur = self.conn.execute("SELECT " + ", ".join(c if c in present else f"NULL AS {c}"
                                                      for c in wanted) + " FROM runs ORDER BY run_id")
        cols = [c[0] for c in cur.description]
        out = [dict(zip(cols, row)) for row in cur]
        live = None
        for i, run in enumerate(out):
            if run["status"] in (None, "running"):
                if live is None:
                    live = self.run_in_progress()
                last = i == len(out) - 1
                run["status"] = ("running" if live and last else
                                 "killed" if run["status"] == "running" else "unknown")
        return out
