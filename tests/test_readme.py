"""The README's Python blocks run, in order, as a reader would paste them (issue 17, G)."""

import re
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _names(node) -> tuple[set, set]:
    """(names a statement binds, names it reads)."""
    import ast

    bound, read = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (bound if isinstance(n.ctx, (ast.Store, ast.Del)) else read).add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in n.names}
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            bound.add(n.name)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
    return bound, read


def test_the_readme_python_blocks_define_every_name_before_using_it():
    """Fast and static (the blocks themselves run in the slow test below): read in order, no block
    uses a name (such as `lt` or `small`) that neither it nor an earlier block has defined."""
    import ast
    import builtins

    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3
    defined = set(dir(builtins))
    for i, block in enumerate(blocks):
        for statement in ast.parse(block).body:
            bound, read = _names(statement)
            missing = read - defined - bound
            assert not missing, f"README python block {i + 1} uses {sorted(missing)} before defining them"
            defined |= bound


@pytest.mark.slow  # about 30 s: torch, the d = 450 risks, a kernel fit on 1000 samples
@pytest.mark.filterwarnings("ignore::UserWarning")  # the Mei-Montanari line warns, as the README says
def test_the_readme_python_blocks_run_in_order(monkeypatch):
    monkeypatch.chdir(README.parent)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(python_blocks(README.read_text())):
        start = time.perf_counter()
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            pytest.fail(f"README python block {i + 1} failed: {type(exc).__name__}: {exc}\n{block}")
        print(f"block {i + 1}: {time.perf_counter() - start:.1f} s")
