"""The package's layering (docs/architecture.md), checked by walking every import with ast.

Every ``import`` statement counts, at module level or inside a function
(a lazy import is still a dependency). A module may import its own layer
or a lower one, never a higher one; no module imports the package root;
``exact`` does not import ``theory``; and the graph of imports between
lazytrain's modules has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "lazytrain"

#: Top-level module or subpackage of lazytrain -> layer (lower layers never import higher ones).
LAYERS = {
    "_version": 0, "_validation": 0, "_chi2": 0, "_quadrature": 0, "records": 0,
    "activations": 1, "weights": 1, "kernels": 1,
    "tasks": 2, "regimes": 2,
    "theory": 3, "exact": 3, "train": 3, "bayes": 3, "fitting": 3,
    "experiments": 4,
    "figures": 5, "report": 5, "reproduce": 5,
    "cli": 6,
    ROOT: 7,  # the package root (lazytrain/__init__.py): the public facade, imported by nobody
}
#: (importer, imported) pairs forbidden although their layers would allow them.
FORBIDDEN = {("exact", "theory")}


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__.py)."""
    out = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, modules: dict) -> set[str]:
    """The lazytrain modules that module ``name`` imports (explicit targets only)."""
    tree = ast.parse(modules[name].read_text(), filename=str(modules[name]))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            subs = [f"{mod}.{alias.name}" for alias in node.names if f"{mod}.{alias.name}" in modules]
            targets = subs if subs and len(subs) == len(node.names) else [mod] + subs
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import lazytrain.exact.general.x` -> nearest module
                target = target.rpartition(".")[0]
            if target and (target == ROOT or target.startswith(ROOT + ".")):
                found.add(target)
    found.discard(name)
    return found


def _layer_key(name: str) -> str:
    parts = name.split(".")
    return ROOT if len(parts) == 1 else parts[1]


def _graph():
    modules = _modules()
    return modules, {name: _imports(name, modules) for name in modules}


def test_every_module_has_a_layer():
    modules, _ = _graph()
    missing = sorted({_layer_key(m) for m in modules} - set(LAYERS))
    assert not missing, f"give these modules a layer in tests/test_layers.py and docs/architecture.md: {missing}"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    _, graph = _graph()
    bad = []
    for src, targets in graph.items():
        for dst in targets:
            a, b = _layer_key(src), _layer_key(dst)
            if dst == ROOT:
                bad.append(f"{src} imports the package root {ROOT} (import from the module that defines the name)")
            elif LAYERS[b] > LAYERS[a]:
                bad.append(f"{src} (layer {LAYERS[a]}) imports {dst} (layer {LAYERS[b]})")
            elif (a, b) in FORBIDDEN:
                bad.append(f"{src} imports {dst}: {a} must not import {b}")
    assert not bad, "\n".join(bad)


def _find_cycle(graph: dict) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes (first == last), or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_between_modules():
    _, graph = _graph()
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# ---------------------------------------------------------------- the checker itself can fail
def test_the_cycle_finder_finds_a_cycle_and_accepts_a_dag():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_walker_sees_lazy_relative_and_package_imports(tmp_path, monkeypatch):
    pkg = tmp_path / ROOT
    (pkg / "exact").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .exact import f\n")
    (pkg / "exact" / "__init__.py").write_text("from . import sub\n\ndef f():\n    from .. import theory\n")
    (pkg / "exact" / "sub.py").write_text("from . import name_in_init\n")
    (pkg / "theory.py").write_text("import lazytrain.exact.sub\n")
    monkeypatch.setattr(f"{__name__}.SRC", tmp_path)
    modules, graph = _graph()
    assert graph["lazytrain.exact"] == {"lazytrain.exact.sub", "lazytrain.theory"}
    assert graph["lazytrain.exact.sub"] == {"lazytrain.exact"}
    assert graph["lazytrain.theory"] == {"lazytrain.exact.sub"}
    assert _find_cycle(graph) is not None
    with pytest.raises(AssertionError, match="exact must not import theory"):
        test_no_import_from_a_lower_layer_to_a_higher_one()
