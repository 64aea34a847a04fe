"""Every figure's quick path, and `reproduce all --quick`, end to end through the installed command:
each writes a non-empty PNG and tidy CSV (the figures' own numbers are checked in their test files)."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from lazytrain.records import COLUMNS
from lazytrain.reproduce import FIGURES


def _written(out: Path, fig: str, ext: str) -> list[Path]:
    """The files of figure ``fig`` with extension ``ext`` (figN.ext, and figN-*.ext / figN_*.ext)."""
    return sorted(p for p in out.glob(f"{fig}*.{ext}") if p.stem == fig or p.stem[len(fig)] in "-_")


def _check_figure_files(out: Path, fig: str):
    pngs, csvs = _written(out, fig, "png"), _written(out, fig, "csv")
    assert pngs and csvs, (fig, sorted(p.name for p in out.iterdir()))
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png
    for path in csvs:
        rows = list(csv.DictReader(open(path)))
        assert rows, path
    main_csv = [p for p in csvs if "_" not in p.stem][0]
    assert tuple(next(csv.DictReader(open(main_csv))))[: len(COLUMNS)] == COLUMNS


@pytest.mark.parametrize("fig", sorted(FIGURES))
def test_reproduce_figure_quick_writes_png_and_csv(fig, quick_figure):
    _check_figure_files(quick_figure(fig), fig)


def test_reproduce_all_quick_writes_every_figure_and_the_report(tmp_path):
    result = subprocess.run([str(Path(sys.executable).parent / "lazytrain"), "reproduce", "all", "--quick",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    for fig in FIGURES:
        _check_figure_files(tmp_path, fig)
    html = (tmp_path / "report.html").read_text()
    assert html.count("<img") >= len(FIGURES) and "Traceback" not in html
