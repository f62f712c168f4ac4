"""The package's shape, checked from its source: no import cycle, no oversized module, views on top.

Every import counts: module level, inside functions and under ``TYPE_CHECKING`` (a function-level
import hides a cycle, it does not remove it). An import of ``ragbench.a.b`` is an edge to that
module, or to the package ``ragbench.a.b`` (its ``__init__``) when it is a folder, and also to the
package ``ragbench.a``: Python runs a package's ``__init__`` before any module inside it, so a
package whose ``__init__`` imports its own modules is part of every import of them (ancestors the
importing module shares are already running and add no edge).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import ragbench

PACKAGE = Path(__file__).resolve().parents[1] / "ragbench"
MAX_LINES = 400  # a module one can hold in one's head; split by concern beyond this
#: Views: they import results and models, never the reverse.
VIEW_PACKAGES = ("ragbench.render", "ragbench.notebook")
#: What may import a view: views themselves, the CLI and the lazy top-level exports.
VIEW_USERS = (*VIEW_PACKAGES, "ragbench.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The module an imported dotted name lands in (a function or class: its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def enclosing_packages(target: str, importer: str) -> set[str]:
    """The packages whose ``__init__`` importing ``target`` from ``importer`` runs first: those
    of ``target``, except ``importer`` itself and the ones it is inside (imported already)."""
    parts = target.split(".")
    packages = {".".join(parts[:i]) for i in range(1, len(parts))}
    return {p for p in packages if p in MODULES and not f"{importer}.".startswith(f"{p}.")}


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "ragbench" or name.startswith("ragbench."):
                target = resolve(name)
                if target is not None and target != module:
                    found.add(target)
                    found |= enclosing_packages(target, module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_checker_finds_a_function_level_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = "def f():\n    from ragbench.render import html\n"
    tree = ast.parse(source)
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))


def test_importing_a_module_runs_its_package_first() -> None:
    # the judge importing experiment.workers runs experiment/__init__ (and what that imports)
    assert enclosing_packages("ragbench.experiment.workers", "ragbench.judge.scoring") == {
        "ragbench.experiment"
    }
    # a sibling: the package is being imported already
    assert enclosing_packages("ragbench.models.identity", "ragbench.models.local") == set()
    assert enclosing_packages("ragbench.models.identity", "ragbench.models") == set()


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_views_are_imported_only_by_views() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.startswith(VIEW_PACKAGES) and not module.startswith(VIEW_USERS)
    )
    assert not wrong, "models importing views:\n" + "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]}: {lines} lines (split it by concern)"


def test_stage_folders() -> None:
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(folders) <= 14, folders
    assert loose == ["__init__.py", "cli.py", "records.py"], loose


@pytest.mark.parametrize("name", sorted(ragbench._EXPORTS))
def test_lazy_exports_resolve(name: str) -> None:
    module, _, attribute = ragbench._EXPORTS[name].partition(":")
    assert getattr(ragbench, name) is getattr(importlib.import_module(module), attribute)


def test_importing_ragbench_loads_no_stage() -> None:
    code = "import sys, ragbench; print(sorted(m for m in sys.modules if m.startswith('ragbench')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['ragbench']"
