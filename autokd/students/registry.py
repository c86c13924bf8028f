"""The family registry: `StudentFamily`, registering, looking up, building (see the package)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from autokd.errors import ConfigError
from autokd.runtime.registry import Registry


class StudentSpec(Protocol):
    """What every family's config has: the data it fits, its stages, and its identity."""

    family: str
    in_channels: int
    num_classes: int
    input_size: int
    stages: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]: ...
    def arch_hash(self) -> str: ...
    def describe(self) -> str: ...


class FamilySpace(Protocol):
    """A family's parsed `student:` section; `max_stages` sizes the per-stage distill keys."""

    @property
    def max_stages(self) -> int: ...


@dataclass(frozen=True)
class StudentFamily:
    name: str
    description: str  # one line, shown by `autokd.list_spaces()` and the README
    legend: str  # how to read the architecture column (`describe()`)
    from_dict: Callable[[Mapping[str, Any]], StudentSpec]
    parse_space: Callable[[Path, Mapping[str, Any]], FamilySpace]  # the `student:` mapping
    sample: Callable[[Any, Any, Any], StudentSpec]  # (trial, family space, data shape)
    declarations: Callable[[Any], dict[str, str]]  # family space -> param name -> int/float/choice
    build: Callable[[Any], nn.Module]
    check: Callable[[Any, str], None]  # a config read from a file obeys the space's rules


FAMILIES: Registry[StudentFamily] = Registry("student family")


def register_family(family: StudentFamily) -> StudentFamily:
    return FAMILIES.add(family.name, family, defined_by=family.build)


def list_families() -> list[str]:
    return FAMILIES.names()


def get_family(name: str | StudentFamily) -> StudentFamily:
    return name if not isinstance(name, str) else FAMILIES.get(name)


def student_from_dict(data: Mapping[str, Any]) -> StudentSpec:
    """A student config from its record (`to_dict`): the `family` key picks the type."""
    if not isinstance(data, Mapping) or not isinstance(data.get("family"), str):
        raise ConfigError(f"a student record needs a 'family' name, got {data!r:.80}")
    return get_family(data["family"]).from_dict(data)


def build_student(config: StudentSpec) -> nn.Module:
    return get_family(config.family).build(config)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
