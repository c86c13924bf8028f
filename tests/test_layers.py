"""The package's layers: every import, function-level and TYPE_CHECKING ones included, goes down
the layer order (or stays in its own room), and no chain of imports comes back to where it
started. The README's Architecture section draws the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autokd"

# Rooms from the top down; a room may import only rooms on lower lines (and itself). Rooms on
# one line know nothing of each other.
LAYERS: list[set[str]] = [
    {"autokd"},  # the API (api.py), the CLI (cli.py), the package's face
    {"reporting", "workflows"},
    {"study"},
    {"teachers", "measure"},
    {"distill"},
    {"data", "students"},
    {"records", "runtime"},
    {"errors"},
]


def modules_of(package: Path) -> dict[str, Path]:
    """`autokd.study.space` -> its file, for every module of the package."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports anywhere in it: at the top, in a function, or
    under TYPE_CHECKING. `from a.b import c` is module `a.b.c` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif node.module in modules:
                    found.add(node.module)
    return found


def room_of(module: str) -> str:
    """`autokd.study.space` -> `study`; `autokd.errors` -> `errors`; the top modules -> `autokd`."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("api", "cli", "__main__"):
        return "autokd"
    return parts[1]


def rank_of(room: str) -> int:
    for rank, rooms in enumerate(LAYERS):
        if room in rooms:
            return rank
    raise AssertionError(f"room '{room}' is in no layer: add it to LAYERS (and the README)")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up the layers or sideways into another room."""
    wrong = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            source_room, target_room = room_of(module), room_of(target)
            if source_room != target_room and rank_of(target_room) <= rank_of(source_room):
                wrong.append(f"{module} -> {target} ({source_room} may not import {target_room})")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or a module importing itself
    (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = modules_of(package)
    return {module: imports_of(path, modules) for module, path in modules.items()}


def test_every_room_is_in_a_layer():
    for module in modules_of(PACKAGE):
        rank_of(room_of(module))


def test_imports_go_down_the_layers():
    assert upward_imports(import_graph(PACKAGE)) == []


def test_no_imports_close_a_cycle():
    assert cycles(import_graph(PACKAGE)) == []


def test_at_most_about_ten_rooms_at_the_top():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    folders = [name for name in entries if (PACKAGE / name).is_dir()]
    assert len(folders) <= 10, sorted(folders)


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of the package's shape with an upward import and a cycle planted in it."""
    package = tmp_path / "autokd"
    for name, text in {
        "__init__.py": "",
        "errors.py": "",
        "records/__init__.py": "",
        "records/cache.py": "def f():\n    from autokd.study import controller\n",  # upward
        "study/__init__.py": "",
        "study/controller.py": "from autokd.study.space import x\n",
        "study/space.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from autokd.study.controller import y\n",  # a cycle
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def test_the_checks_find_a_planted_upward_import_and_cycle(planted):
    graph = import_graph(planted)
    assert upward_imports(graph) == [
        "autokd.records.cache -> autokd.study.controller (records may not import study)"
    ]
    assert cycles(graph) == [["autokd.study.controller", "autokd.study.space"]]
