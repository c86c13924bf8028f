"""Pruners: what may stop a trial before `--epochs`, registered by name (`--pruner NAME`).

Optuna cannot prune a multi-objective study, so autokd judges its own trials: a pruner is a
factory of one trial's epoch callback, given the trial, the run's `--epochs` and the student's
latency and FLOPs (known before its first batch); the callback records the trial's curve and
raises `Stopped` to end it, which records the trial PRUNED with the reason. Shipped: `mo-asha`
(the default, `mo_asha.py`) and `none` (`none.py`). A new pruner is one module that calls
`register_pruner(Pruner(...))` when imported.
"""

from __future__ import annotations

from autokd.study.pruners import mo_asha, none
from autokd.study.pruners.registry import (
    Pruner,
    PrunerFactory,
    Stopped,
    get_pruner,
    list_pruners,
    register_pruner,
)

__all__ = ["Pruner", "PrunerFactory", "Stopped", "get_pruner", "list_pruners", "register_pruner"]

register_pruner(
    Pruner(
        "mo-asha",
        mo_asha.mo_asha,
        "stop students that cannot reach the front (judged at rungs --epochs/9, --epochs/3 and "
        "--epochs)",
    )
)
register_pruner(Pruner("none", none.record_only, "every trial trains --epochs"))
