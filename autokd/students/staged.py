"""What families built of stages share: a stem, then up to `stages` stages, each with its own
values of the family's per-stage keys, and a stride per stage. A family gives its key rules;
this module parses its `student:` section, samples it and checks a config read back from a file.

Parameter names are `stages`, `stem_width`, then per stage (1-based) `s1_<key>`, `s2_<key>`, ...
in the order of the family's rules, then `s1_stride` ... where a stride is sampled; fixed values
are not Optuna parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from autokd.errors import ConfigError
from autokd.records.params import (
    MAX_CLASSES,
    MAX_INPUT_SIZE,
    MAX_STAGES,
    Fixed,
    Param,
    Rule,
    parse_param,
    parse_per_stage,
)
from autokd.records.yamlfiles import check_keys, stable_hash
from autokd.students.registry import StudentFamily

STAGE_COUNT_RULE = Rule(int, 1, MAX_STAGES)
STEM_RULE = Rule(int, 1, 1024)
STRIDE_RULE = Rule(int, 1, 2, per_stage=True)
DEFAULT_STRIDES = [1, 2, 2, 2, 2, 2]


@dataclass(frozen=True)
class StagedSpace:
    stages: Param
    strides: tuple[Param, ...]  # of every possible stage: fixed, or sampled from choices
    stem_width: Param
    per_stage: tuple[tuple[str, tuple[Param, ...]], ...]  # key -> one parameter per stage

    @property
    def max_stages(self) -> int:
        return int(self.stages.largest)

    def stage(self, key: str) -> tuple[Param, ...]:
        return dict(self.per_stage)[key]


class StagedConfig:
    """The record side of a staged family's config (a frozen dataclass with `family`,
    `in_channels`, `num_classes`, `input_size`, `stem_width` and `stages` of `STAGE`)."""

    NAME: ClassVar[str]  # the family's name
    STAGE: ClassVar[type]  # the dataclass of one stage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        fields = dict(data)
        fields["stages"] = tuple(cls.STAGE(**s) for s in fields["stages"])
        return cls(**fields)

    def arch_hash(self) -> str:
        """Keys the per-architecture caches: the same in every process and on every machine."""
        return stable_hash(self.to_dict())

    @classmethod
    def sample(cls, trial: Any, space: StagedSpace, data: Any) -> Any:
        """A config of this type sampled from `space` for `data` (its channels, classes, size)."""
        stem_width, stages = sample_staged(trial, space)
        return cls(
            family=cls.NAME,
            in_channels=data.channels,
            num_classes=data.classes,
            input_size=data.input_size,
            stem_width=stem_width,
            stages=tuple(cls.STAGE(**{k: int(v) for k, v in s.items()}) for s in stages),
        )


def parse_staged(path: Path, body: Any, rules: Mapping[str, Rule]) -> StagedSpace:
    """The `student:` mapping of space file `path`, for a family whose stages have `rules`."""
    keys = ["stages", "stem_width", *rules]
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: key 'student' must be a mapping with keys {keys}")
    check_keys(path, "student.", body, [*keys, "strides"])
    for key in keys:
        if key not in body:
            raise ConfigError(f"{path}: key 'student.{key}' is missing")
    stages = parse_param(path, "student.stages", body["stages"], STAGE_COUNT_RULE)
    n = int(stages.largest)
    strides = body.get("strides", DEFAULT_STRIDES[:n])
    if not isinstance(strides, list) or len(strides) != n:
        raise ConfigError(
            f"{path}: key 'student.strides' must list, for each of the {n} possible stages, 1, 2 "
            f"or {{choices: [1, 2]}}, got {strides!r}"
        )
    return StagedSpace(
        stages=stages,
        strides=parse_per_stage(path, "student.strides", strides, STRIDE_RULE, n),
        stem_width=parse_param(path, "student.stem_width", body["stem_width"], STEM_RULE),
        per_stage=tuple(
            (key, parse_per_stage(path, f"student.{key}", body[key], rule, n))
            for key, rule in rules.items()
        ),
    )


def sample_staged(trial: Any, space: StagedSpace) -> tuple[int, list[dict[str, Any]]]:
    """(stem width, one {key: value, 'stride': s} per sampled stage), define-by-run."""
    n = int(space.stages.suggest(trial, "stages"))
    stem_width = int(space.stem_width.suggest(trial, "stem_width"))
    stages = []
    for i in range(n):
        values = {
            key: params[i].suggest(trial, f"s{i + 1}_{key}") for key, params in space.per_stage
        }
        stages.append({**values, "stride": space.strides[i].suggest(trial, f"s{i + 1}_stride")})
    return stem_width, stages


def staged_declarations(space: StagedSpace, rules: Mapping[str, Rule]) -> dict[str, str]:
    """Every architecture parameter the space may sample: name -> int or float."""

    def kind(rule: Rule) -> str:
        return "int" if rule.kind is int else "float"

    declared = {"stages": "int", "stem_width": "int"}
    for i in range(space.max_stages):
        declared.update({f"s{i + 1}_{key}": kind(rule) for key, rule in rules.items()})
    sampled_strides = [i for i, s in enumerate(space.strides) if not isinstance(s, Fixed)]
    declared.update({f"s{i + 1}_stride": "int" for i in sampled_strides})  # fixed: no column
    return declared


def check_staged(config: Any, rules: Mapping[str, Rule], where: str) -> None:
    """A config read back from a file (an exported bundle) obeys the rules a space's do: a
    negative width or a huge stem is one line naming the key, not a crash."""

    def check(key: str, value: Any, rule: Rule) -> None:
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(value) or not rule.low <= value <= rule.high:
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")
        if rule.kind is int and (not float(value).is_integer() or (rule.odd and value % 2 == 0)):
            raise ConfigError(f"{where}: key '{key}' must be {rule.describe()}, got {value!r}")

    check("student.in_channels", config.in_channels, Rule(int, 1, 64))
    check("student.num_classes", config.num_classes, Rule(int, 2, MAX_CLASSES))
    check("student.input_size", config.input_size, Rule(int, 1, MAX_INPUT_SIZE))
    check("student.stem_width", config.stem_width, STEM_RULE)
    if not 1 <= len(config.stages) <= MAX_STAGES:
        raise ConfigError(f"{where}: key 'student.stages' must list 1 to {MAX_STAGES} stages")
    for i, stage in enumerate(config.stages):
        for key, rule in rules.items():
            check(f"student.stages[{i}].{key}", getattr(stage, key), rule)
        check(f"student.stages[{i}].stride", stage.stride, Rule(int, 1, 2))


# One block: (input channels, output channels, the stage's config, stride) -> module.
BlockBuilder = Callable[[int, int, Any, int], nn.Module]


class StagedStudent(nn.Module):
    """A stem, then each stage's blocks (only a stage's first block changes stride and width),
    global average pooling and a linear head; every stage's output is a feature tap."""

    def __init__(self, config: Any, stem: nn.Module, block: BlockBuilder) -> None:
        super().__init__()
        self.config = config
        self.stem = stem
        stages, cin = [], config.stem_width
        for stage in config.stages:
            blocks = [
                block(
                    cin if i == 0 else stage.width,
                    stage.width,
                    stage,
                    stage.stride if i == 0 else 1,
                )  # fmt: skip
                for i in range(stage.depth)
            ]
            stages.append(nn.Sequential(*blocks))
            cin = stage.width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(cin, config.num_classes)
        self.feature_channels = [s.width for s in config.stages]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.head(x.mean(dim=(2, 3))), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


def staged_family(
    name: str,
    description: str,
    legend: str,
    config: type,
    rules: Mapping[str, Rule],
    build: Callable[[Any], nn.Module],
) -> StudentFamily:
    """The `StudentFamily` of a stage-built family: its keys' `rules`, its `config` type (a
    `StagedConfig`) and its builder are all that differ from one such family to another."""
    return StudentFamily(
        name=name,
        description=description,
        legend=legend,
        from_dict=config.from_dict,
        parse_space=lambda path, body: parse_staged(path, body, rules),
        sample=config.sample,
        declarations=lambda space: staged_declarations(space, rules),
        build=build,
        check=lambda student, where: check_staged(student, rules, where),
    )  # fmt: skip
