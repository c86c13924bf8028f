"""Search-space parameters: a fixed value, a range, or a list of choices, and the rules that
check a value against what a key accepts. Families and the distill section parse with these.

Every parameter a space may sample is declared once with its kind (`ARCHITECTURE`,
`DISTILLATION`, `TRAINING`) and type (int, float, choice); trials.csv, the report and the
importances read the declaration, never a name's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autokd.errors import ConfigError
from autokd.records.yamlfiles import check_keys

DISTILLATION, ARCHITECTURE, TRAINING = "distillation", "architecture", "training"  # kinds


@dataclass(frozen=True)
class Fixed:
    value: int | float

    def suggest(self, trial: Any, name: str) -> int | float:
        return self.value

    @property
    def largest(self) -> int | float:
        return self.value


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    @property
    def largest(self) -> int:
        return self.high


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    @property
    def largest(self) -> float:
        return self.high


@dataclass(frozen=True)
class Choices:
    values: tuple[int | float, ...]

    def suggest(self, trial: Any, name: str) -> int | float:
        return trial.suggest_categorical(name, list(self.values))

    @property
    def largest(self) -> int | float:
        return max(self.values)


Param = Fixed | IntRange | FloatRange | Choices


@dataclass(frozen=True)
class Rule:
    """What one search-space key accepts: its number type, inclusive bounds, per-stage or not."""

    kind: type
    low: float
    high: float
    per_stage: bool = False
    odd: bool = False

    def describe(self) -> str:
        what = "an odd integer" if self.odd else ("an integer" if self.kind is int else "a number")
        return f"{what} in [{self.low:g}, {self.high:g}]"


MAX_STAGES = 6  # the most stages a search space may ask for
MAX_INPUT_SIZE = 1024  # image side, for a student and for a target's timing input
MAX_CLASSES = 100_000


def parse_number(path: Path, key: str, value: Any, rule: Rule) -> int | float:
    ok_type = isinstance(value, int) if rule.kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not (rule.low <= value <= rule.high):
        raise ConfigError(f"{path}: key '{key}' must be {rule.describe()}, got {value!r}")
    if rule.odd and value % 2 == 0:
        raise ConfigError(f"{path}: key '{key}' must be {rule.describe()}, got {value!r}")
    return rule.kind(value)


def parse_param(path: Path, key: str, value: Any, rule: Rule) -> Param:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ConfigError(
                f"{path}: key '{key}' must be a number, {{low: .., high: ..}} or {{choices: [..]}}"
                + (" (or a list of those, one per stage)" if rule.per_stage else "")
                + f", got a list {value!r}"
            )
        return Fixed(parse_number(path, key, value, rule))
    if "choices" in value:
        check_keys(path, f"{key}.", value, ["choices"])
        choices = value["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{path}: key '{key}.choices' must be a non-empty list")
        parsed = tuple(parse_number(path, f"{key}.choices", v, rule) for v in choices)
        return Choices(tuple(dict.fromkeys(parsed)))
    allowed = ["low", "high", "log"] + (["step"] if rule.kind is int else [])
    check_keys(path, f"{key}.", value, allowed)
    for bound in ("low", "high"):
        if bound not in value:
            raise ConfigError(f"{path}: key '{key}' needs '{bound}' (or use 'choices')")
    low = parse_number(path, f"{key}.low", value["low"], rule)
    high = parse_number(path, f"{key}.high", value["high"], rule)
    if low > high:
        raise ConfigError(f"{path}: key '{key}' needs low <= high, got low={low}, high={high}")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{path}: key '{key}.log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{path}: key '{key}' with log: true needs low > 0, got {low}")
    if rule.kind is int:
        step = value.get("step", 1)
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ConfigError(f"{path}: key '{key}.step' must be a positive integer, got {step!r}")
        if log and step != 1:
            raise ConfigError(
                f"{path}: key '{key}' cannot combine log: true with a step, got step={step}"
            )
        return IntRange(int(low), int(high), step=step, log=log)
    return FloatRange(float(low), float(high), log=log)


def parse_per_stage(path: Path, key: str, value: Any, rule: Rule, stages: int) -> tuple[Param, ...]:
    if not isinstance(value, list):
        return (parse_param(path, key, value, rule),) * stages
    if len(value) != stages:
        raise ConfigError(
            f"{path}: key '{key}' lists {len(value)} per-stage values but up to {stages} stages "
            "can be sampled; give one value per stage or a single value for all"
        )
    return tuple(parse_param(path, f"{key}[{i}]", v, rule) for i, v in enumerate(value))
