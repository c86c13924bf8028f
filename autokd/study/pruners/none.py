"""The `none` pruner: every trial trains `--epochs`; its curve is recorded, nothing is judged."""

from __future__ import annotations

from typing import Any

from autokd.records.attrs import CURVE_ATTR


class CurveRecorder:
    """The epoch callback of a trial with the stopper off."""

    def __init__(self, trial: Any) -> None:
        self.trial, self.curve = trial, []

    def __call__(self, report: Any) -> None:
        self.curve.append(report.val_accuracy)
        self.trial.set_user_attr(CURVE_ATTR, list(self.curve))


def record_only(trial: Any, epochs: int, latency_ms: float, flops: float) -> CurveRecorder:
    return CurveRecorder(trial)
