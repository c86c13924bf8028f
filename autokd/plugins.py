"""Your own terms and families, loaded in every autokd process (the search and its workers).

A plug-in is a Python module that calls `register_term(...)` or `register_family(...)` when it is
imported. autokd imports, before any command runs:

- every module named in `$AUTOKD_PLUGINS` (comma-separated; importable from `sys.path`, e.g. with
  `PYTHONPATH`), which worker processes inherit with the environment;
- every entry point of the group `autokd.plugins` of the installed packages
  (`[project.entry-points."autokd.plugins"] mine = "mypackage.kd_terms"`).
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from autokd.errors import AutoKDError

PLUGINS_VARIABLE = "AUTOKD_PLUGINS"
ENTRY_POINT_GROUP = "autokd.plugins"


def load_plugins() -> list[str]:
    """Import every plug-in module; returns their names. A missing one is one line."""
    loaded = []
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise AutoKDError(
                f"${PLUGINS_VARIABLE} names module '{name}', which cannot be imported ({err}); "
                "put its folder on PYTHONPATH or install it"
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
