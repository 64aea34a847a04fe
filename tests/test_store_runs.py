"""The store and the runs (issue 17, section D): a store is never overwritten by an export or a
report, a foreign schema is refused untouched, readers write nothing next to the store, and
every way a run ends is recorded."""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lazytrain.cli import main
from lazytrain.experiments import ResultStore, compute_point, expand, validate_spec

from test_store_trust import _killed_writer, read_only

SRC = Path(__file__).resolve().parents[1] / "src"


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def theory_spec(**updates):
    data = {"name": "small", "task": {"type": "paper", "d": 12, "seed": 100},
            "n_neurons": [3, 6, 12], "kinds": ["theory"]}
    return validate_spec({**data, **updates})


def fill(out, spec, status="done"):
    with ResultStore.open_or_create(out) as store:
        run = store.begin_run([spec], "local", 1)
        for p in expand(spec):
            store.add(p, compute_point(p, pin=False), run)
        if status is not None:
            store.end_run(run, status)


def digest(path: Path) -> tuple:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.mark.parametrize("command", [["results"], ["results", "--format", "sqlite"],
                                     ["results", "--format", "json"], ["report"]])
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_an_export_or_report_onto_the_store_is_refused(tmp_path, command, suffix):
    fill(tmp_path, theory_spec())
    store = tmp_path / "results.sqlite"
    companion = store.with_name(store.name + suffix)
    if suffix:
        companion.write_bytes(b"")  # as a killed run leaves them
    before = digest(store)
    # the same file spelt differently is still refused
    target = tmp_path / "." / companion.name
    res = invoke(command[0], tmp_path, *command[1:], "--output", target)
    assert res.exit_code == 1, res.output
    assert "would destroy the store" in res.output and "Traceback" not in res.output
    assert digest(store) == before
    with ResultStore.open(tmp_path) as s:
        assert len(s) == 9


def _foreign_schema(path: Path) -> None:
    """An SQLite file with lazytrain's meta table (format and version) but other tables."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", "lazytrain-results"),
                                                            ("schema_version", "1")])
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("CREATE TABLE points (key TEXT PRIMARY KEY, value REAL)")
        conn.execute("INSERT INTO points VALUES ('a', 1.0)")
    conn.close()


def test_a_foreign_schema_with_our_meta_table_is_refused_untouched(tmp_path):
    _foreign_schema(tmp_path / "results.sqlite")
    before = digest(tmp_path / "results.sqlite")
    spec = tmp_path / "s.toml"
    spec.write_text('n_neurons = [3]\nkinds = ["theory"]\n[task]\ntype = "paper"\nd = 8\n')
    for args in (["run", spec, "--out", tmp_path], ["results", tmp_path], ["report", tmp_path]):
        res = invoke(*args)
        assert res.exit_code == 1, (args, res.output)
        assert "not its schema" in res.output and "lacks" in res.output, res.output
        assert "Traceback" not in res.output and res.exception is None or \
            isinstance(res.exception, SystemExit)
    assert digest(tmp_path / "results.sqlite") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite", "s.toml"]


def test_reading_a_wal_store_in_a_read_only_directory_writes_nothing_next_to_it(tmp_path):
    out = tmp_path / "store"
    _killed_writer(out, theory_spec())  # committed points in results.sqlite-wal, and a -shm
    shm = out / "results.sqlite-shm"
    assert shm.exists() and (out / "results.sqlite-wal").stat().st_size > 0
    before = {p.name: digest(p) for p in out.iterdir()}
    with read_only(out):  # the directory only: the files themselves stay writable
        res = invoke("results", out, "--format", "json")
        assert res.exit_code == 0, res.output
        assert len(json.loads(res.stdout)) == 9
        rep = invoke("report", out, "--output", tmp_path / "r.html")
        assert rep.exit_code == 0, rep.output
        assert {p.name: digest(p) for p in out.iterdir()} == before
