"""The linter is part of the test suite: `pytest` fails on what `ruff check` finds (rules in
pyproject.toml). A redefined function (F811) once broke `reproduce fig6` unnoticed."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail("ruff is not installed: pip install -e '.[test]' installs it")
    return [sys.executable, "-m", "ruff"]


def test_ruff_finds_nothing():
    result = subprocess.run([*_ruff(), "check", "--no-cache", "src", "tests", "benchmarks", "examples"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_catches_a_redefined_function(tmp_path):
    """The rule set in pyproject.toml really flags the defect that broke Figure 6."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return 1\n\n\ndef f():\n    return 2\n")
    result = subprocess.run([*_ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                             str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "F811" in result.stdout, result.stdout + result.stderr
