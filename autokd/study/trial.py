"""What one trial trained, as its user attributes hold it (`TrialRecord`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autokd.distill.config import KDConfig, TrainConfig
from autokd.records.attrs import KD_ATTR, STUDENT_ATTR, TRAIN_ATTR
from autokd.students import StudentSpec, student_from_dict


@dataclass(frozen=True)
class TrialRecord:
    """Written by the search (the student and distillation when sampled, the schedule once
    trained), read back by export, validate, the report and the tests' fake run."""

    student: StudentSpec
    kd: KDConfig
    train: TrainConfig | None = None  # None until trained (a rejected or failed trial)

    def attrs(self) -> dict[str, Any]:
        attrs = {STUDENT_ATTR: self.student.to_dict(), KD_ATTR: self.kd.to_dict()}
        return attrs | ({TRAIN_ATTR: self.train.to_dict()} if self.train else {})

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialRecord:
        """A trial's record; one written before a setting existed reads with its default."""
        train = attrs.get(TRAIN_ATTR)
        return cls(
            student=student_from_dict(attrs[STUDENT_ATTR]),
            kd=KDConfig.from_dict(attrs[KD_ATTR]),
            train=TrainConfig.from_dict(train) if train else None,
        )
