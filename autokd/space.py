"""Define-by-run sampling: one function turns a search space and a trial into a candidate.

Parameter names are what trials.csv and the report show: `stages`, `stem_width`, then per stage
(1-based) `s1_depth`, `s1_width`, `s1_kernel`, `s1_dilation`, `s1_feature_weight`, and finally
`temperature`, `alpha`, `lr`. Fixed values in the space are not Optuna parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from autokd.config import KDConfig, SearchSpace, StageConfig, StudentConfig


class DataShape(Protocol):
    """What a student needs to know of its data (a `DataBundle` has it, and so has `Shape`)."""

    channels: int
    classes: int
    input_size: int


@dataclass(frozen=True)
class Shape:
    channels: int
    classes: int
    input_size: int


@dataclass(frozen=True)
class Candidate:
    """What one trial trains: an architecture, its distillation settings and its learning rate."""

    student: StudentConfig
    kd: KDConfig
    lr: float


def sample_candidate(trial: Any, space: SearchSpace, data: DataShape) -> Candidate:
    """Sample a candidate with `trial` (an Optuna trial, or `optuna.trial.FixedTrial` in tests)."""
    n = int(space.stages.suggest(trial, "stages"))
    stem_width = int(space.stem_width.suggest(trial, "stem_width"))
    stages = tuple(
        StageConfig(
            depth=int(space.depth[i].suggest(trial, f"s{i + 1}_depth")),
            width=int(space.width[i].suggest(trial, f"s{i + 1}_width")),
            kernel=int(space.kernel[i].suggest(trial, f"s{i + 1}_kernel")),
            dilation=int(space.dilation[i].suggest(trial, f"s{i + 1}_dilation")),
            stride=space.strides[i],
        )
        for i in range(n)
    )
    kd = KDConfig(
        temperature=float(space.temperature.suggest(trial, "temperature")),
        alpha=float(space.alpha.suggest(trial, "alpha")),
        feature_weights=tuple(
            float(space.feature_weight[i].suggest(trial, f"s{i + 1}_feature_weight"))
            for i in range(n)
        ),
    )
    student = StudentConfig(
        family=space.family,
        in_channels=data.channels,
        num_classes=data.classes,
        input_size=data.input_size,
        stem_width=stem_width,
        stages=stages,
    )
    return Candidate(student=student, kd=kd, lr=float(space.lr.suggest(trial, "lr")))


class _Largest:
    """A stand-in trial that answers every suggestion with its largest value."""

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return high

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return high

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return max(choices)


def largest_candidate(space: SearchSpace, data: DataShape) -> Candidate:
    """The largest student `space` allows: every key at its largest (the size bound's case)."""
    return sample_candidate(_Largest(), space, data)


STAGE_PARAMS = ("depth", "width", "kernel", "dilation", "feature_weight")


def param_names(max_stages: int) -> list[str]:
    """Every parameter name a space with up to `max_stages` stages can sample, in reading order:
    the shape, then each stage's parameters together, then distillation and learning rate."""
    per_stage = [f"s{i + 1}_{p}" for i in range(max_stages) for p in STAGE_PARAMS]
    return ["stages", "stem_width", *per_stage, "temperature", "alpha", "lr"]
