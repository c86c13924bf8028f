"""Define-by-run sampling: one function turns a search space and a trial into a candidate.

The student's family samples the architecture (`autokd.students`), then the distillation terms
(`autokd.distill.space`), then the learning rate. Fixed values in the space are not Optuna
parameters. Which parameters a space may sample, and of which kind, is declared once
(`param_declarations`) and stored in the study: trials.csv, the report and the importances
read the declaration, never a name's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from autokd.config import KDConfig, SearchSpace
from autokd.distill.space import (
    ARCHITECTURE,
    TRAINING,
    distill_declarations,
    sample_distillation,
)
from autokd.students import StudentSpec, get_family

PARAMS_ATTR = "params"  # the study attribute holding the run's parameter declarations


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

    student: StudentSpec
    kd: KDConfig
    lr: float


def sample_candidate(trial: Any, space: SearchSpace, data: DataShape) -> Candidate:
    """Sample a candidate with `trial` (an Optuna trial, or `optuna.trial.FixedTrial` in tests)."""
    student = get_family(space.family).sample(trial, space.student, data)
    kd = sample_distillation(trial, space.distill, len(student.stages))
    return Candidate(student=student, kd=kd, lr=float(space.lr.suggest(trial, "lr")))


class _Largest:
    """A stand-in trial that answers every suggestion with its largest value."""

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return high

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return high

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return max(choices)  # a list of numbers, of names or of true/false


def largest_candidate(space: SearchSpace, data: DataShape) -> Candidate:
    """The largest student `space` allows: every key at its largest (the size bound's case)."""
    return sample_candidate(_Largest(), space, data)


def param_declarations(space: SearchSpace) -> dict[str, dict[str, str]]:
    """Every parameter `space` may sample, in reading order: study name -> its kind
    (architecture, distillation, training) and type (int, float, choice)."""
    return _declarations(space.family, space.student, space.distill, space.max_stages)


def legacy_declarations() -> dict[str, dict[str, str]]:
    """The declarations of a study written before they were stored: such runs used the `cnn`
    family's keys with up to MAX_STAGES stages, KD and FitNets."""
    from autokd.distill.space import DistillSpace
    from autokd.params import MAX_STAGES, Fixed
    from autokd.students.cnn import RULES
    from autokd.students.staged import StagedSpace

    one = (Fixed(1),) * MAX_STAGES
    per_stage = tuple((key, one) for key in RULES)
    student = StagedSpace(Fixed(MAX_STAGES), (Fixed(1),) * MAX_STAGES, Fixed(8), per_stage)
    distill = DistillSpace(temperature=Fixed(1.0), alpha=Fixed(0.0), feature_weight=one)
    return _declarations("cnn", student, distill, MAX_STAGES)


def _declarations(
    family: str, student: Any, distill: Any, max_stages: int
) -> dict[str, dict[str, str]]:
    architecture = get_family(family).declarations(student)
    declared = {name: {"kind": ARCHITECTURE, "type": t} for name, t in architecture.items()}
    declared.update(distill_declarations(distill, max_stages))
    declared["lr"] = {"kind": TRAINING, "type": "float"}
    return declared
