"""autokd: search the best small student to distil from a teacher, with latency measured on the
hardware the student will run on.

The library (`autokd.api`) and the command line (`autokd.cli`, an adapter over it) do the same
things:

    import autokd

    run = autokd.search(budget=50, target="cpu")   # autokd search --budget 50 --target cpu
    run.front                                      # the Pareto front, a pandas DataFrame
    bundle = autokd.export(run, output="students/knee")
    autokd.train(bundle, epochs=30)

The names below are imported when first used, so `import autokd` (and `autokd --help`) stays
fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from autokd.errors import AutoKDError

__version__ = "0.1.0"

API = (  # the names of `autokd.api` (its `__all__`), imported when first used
    "Comparison",
    "Objective",
    "Run",
    "SearchInterrupted",
    "SpaceInfo",
    "TargetInfo",
    "compare",
    "export",
    "list_spaces",
    "list_targets",
    "load_student",
    "measure_stability",
    "objective",
    "open_run",
    "remeasure",
    "report",
    "search",
    "train",
    "validate",
    "worker",
)

_LAZY = {
    **{name: "autokd.api" for name in API},
    # the registries a plug-in extends
    "register_term": "autokd.distill.terms",
    "register_family": "autokd.students",
    "register_sampler": "autokd.study.samplers",
    "register_pruner": "autokd.study.pruners",
    "register_backend": "autokd.measure.backends",
    "register_dataset": "autokd.data",
    "Settings": "autokd.runtime.settings",
}

__all__ = ["AutoKDError", "__version__", *sorted(_LAZY)]

if TYPE_CHECKING:
    from autokd.api import (  # noqa: F401
        Comparison,
        Objective,
        Run,
        SearchInterrupted,
        SpaceInfo,
        TargetInfo,
        compare,
        export,
        list_spaces,
        list_targets,
        load_student,
        measure_stability,
        objective,
        open_run,
        remeasure,
        report,
        search,
        train,
        validate,
        worker,
    )


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'autokd' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
