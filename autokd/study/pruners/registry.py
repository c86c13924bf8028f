"""The pruner registry: a pruner is a factory of one trial's epoch callback (see the package)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autokd.runtime.registry import Registry

# (trial, --epochs, the student's latency, its FLOPs) -> the trial's epoch callback, which
# records the trial's curve and raises `Stopped` to end it early
PrunerFactory = Callable[[Any, int, float, float], Callable[[Any], None]]


class Stopped(Exception):
    """Raised by a pruner's epoch callback; the trial becomes PRUNED with `reason`."""

    def __init__(self, reason: str, epoch: int, accuracy: float) -> None:
        super().__init__(reason)
        self.reason, self.epoch, self.accuracy = reason, epoch, accuracy


@dataclass(frozen=True)
class Pruner:
    name: str
    judge: PrunerFactory
    description: str = ""


PRUNERS: Registry[Pruner] = Registry("pruner", sort=False)


def register_pruner(pruner: Pruner) -> Pruner:
    return PRUNERS.add(pruner.name, pruner, defined_by=pruner.judge)


def list_pruners() -> list[str]:
    return PRUNERS.names()


def get_pruner(name: str) -> Pruner:
    return PRUNERS.get(name)
