"""Your own terms, families, samplers, pruners and backends, in every autokd process.

A plug-in is a Python module that calls `register_term(...)`, `register_family(...)` (or another
registry's `register_*`) when it is imported. autokd imports, before any command runs:

- every module named in `$AUTOKD_PLUGINS` (comma-separated; importable from `sys.path`, e.g. with
  `PYTHONPATH`);
- every entry point of the group `autokd.plugins` of the installed packages
  (`[project.entry-points."autokd.plugins"] mine = "mypackage.kd_terms"`).

Every registry tells this module which module registered what (`remember_registration`). A
search that starts worker processes passes them the modules the calling process registered
from, so a term registered in a script or a notebook's imported module works in every worker;
one registered in `__main__` (a notebook cell, a script run directly) cannot be imported by
another process, and `plugin_modules` says so.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from autokd.errors import AutoKDError

PLUGINS_VARIABLE = "AUTOKD_PLUGINS"
ENTRY_POINT_GROUP = "autokd.plugins"
MAIN = "__main__"

_REGISTERED_FROM: dict[tuple[str, str], str] = {}  # (kind, name) -> module that registered it


def remember_registration(kind: str, name: str, defined_by: Callable[..., Any] | type) -> None:
    """Note the module that defines what was registered as `name` (a family's builder, a
    term's loss): shipped ones live in `autokd`, a plug-in's in its own module."""
    defined_by = getattr(defined_by, "func", defined_by)  # a functools.partial: its function
    module = getattr(defined_by, "__module__", None)
    if module is not None:
        _REGISTERED_FROM[kind, name] = module


def forget_registration(kind: str, name: str) -> None:
    _REGISTERED_FROM.pop((kind, name), None)


def plugin_modules() -> tuple[list[str], list[str]]:
    """(importable, unimportable): the modules outside autokd that registered something in this
    process, and those of them another process cannot import (`__main__`)."""
    modules = sorted({m for m in _REGISTERED_FROM.values() if not m.startswith("autokd.")})
    return [m for m in modules if m != MAIN], [
        f"{kind} '{name}'" for (kind, name), m in sorted(_REGISTERED_FROM.items()) if m == MAIN
    ]


def import_paths(modules: Iterable[str]) -> list[str]:
    """The sys.path folders `modules` were imported from, for a child process's PYTHONPATH."""
    folders = []
    for name in modules:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file:
            continue
        root = Path(file).resolve().parent
        for _ in range(name.count(".") + (Path(file).name == "__init__.py")):
            root = root.parent
        if str(root) not in folders:
            folders.append(str(root))
    return folders


def load_plugins(modules: Iterable[str] = (), *, source: str = f"${PLUGINS_VARIABLE}") -> list[str]:
    """Import every plug-in module (`modules`, named by `source`: `$AUTOKD_PLUGINS`, or the
    search that started this worker) and every entry point; returns their names. A missing one
    is one line."""
    loaded = []
    for name in filter(None, (n.strip() for n in modules)):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise AutoKDError(
                f"{source} names module '{name}', which cannot be imported ({err}); put its "
                "folder on PYTHONPATH or install it"
            ) from None
        loaded.append(name)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except ImportError as err:
            raise AutoKDError(
                f"plug-in '{entry.name}' ({entry.value}) cannot be imported ({err})"
            ) from None
        loaded.append(entry.value)
    return loaded
