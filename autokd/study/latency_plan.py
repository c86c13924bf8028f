"""`--latency measure|predict`: which students' latencies are timed.

`measure` (the default) times every student the cache does not know. `predict` times the first
`PREDICT_AFTER` of them, then predicts each new student's latency with the additive model
(`measure.predictor`) fitted on every student of the run timed so far, and times a student only
when it could reach the front: after training, its accuracy with the predicted latency lowered by
the predictor's tolerance (10%) is not dominated by a finished student. The others keep the
predicted latency, flagged `latency_predicted`: they are never on the front (`study.tables`),
so no student is exported untimed. A latency the cache holds is taken as measured (it is).

The prediction made before a student was timed is kept beside its measurement
(`latency_prediction_ms`): those pairs are the predictor's error on students it had not learned
from, said in the summary and the report. A run that timed every student says the same of a
predictor learned from the first half of its students and judged on the second.

A `--max-latency-ms` check on a predicted latency rejects a student untrained only when it is
over the limit by more than the tolerance; nearer than that it is timed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autokd.measure.predictor import (
    TOLERANCE,
    LatencyPredictor,
    PredictorError,
    error_of,
    fit_predictor,
)
from autokd.records import attrs as names
from autokd.study.pareto import pareto_mask

LATENCY_MODES = ("measure", "predict")
PREDICT_AFTER = 10  # students timed before the predictor is used
MAX_JUDGED = 200  # a measured run's predictor: learned from the first half of its last 200


def check_latency_mode(mode: str) -> str:
    from autokd.errors import AutoKDError

    if mode not in LATENCY_MODES:
        raise AutoKDError(f"--latency must be one of {', '.join(LATENCY_MODES)}, got {mode!r}")
    return mode


def measured_students(study: Any) -> tuple[list[np.ndarray], list[float]]:
    """Operator features and timed latencies of the run's students timed so far."""
    features, latencies = [], []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        stored = attrs.get(names.LATENCY_FEATURES_ATTR)
        latency = attrs.get(names.LATENCY_ATTR)
        if stored is None or latency is None or attrs.get(names.LATENCY_PREDICTED_ATTR):
            continue
        features.append(np.asarray(stored, dtype=np.float64))
        latencies.append(float(latency))
    return features, latencies


def predictor_of(study: Any) -> LatencyPredictor | None:
    """The predictor fitted on the run's timed students; None before `PREDICT_AFTER`."""
    features, latencies = measured_students(study)
    if len(latencies) < PREDICT_AFTER or min(latencies) <= 0:
        return None
    return fit_predictor(features, latencies)


def could_reach_front(study: Any, accuracy: float, predicted_ms: float, flops: float) -> bool:
    """Whether a student of `accuracy` and `flops`, at its predicted latency less the
    tolerance, is dominated by no finished student (accuracy, latency, FLOPs)."""
    import optuna

    finished = [
        t.values
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.values is not None
    ]
    if not finished:
        return True
    optimistic = [accuracy, predicted_ms * (1 - TOLERANCE), flops]
    points = np.asarray([*finished, optimistic], dtype=float)
    return bool(pareto_mask(points, ["maximize", "minimize", "minimize"])[-1])


def clearly_over(predicted_ms: float, limit_ms: float) -> bool:
    """A predicted latency over the limit by more than the tolerance: rejected untimed."""
    return predicted_ms * (1 - TOLERANCE) > limit_ms


@dataclass(frozen=True)
class PredictionRecord:
    """What a run says about its latency predictor (summary and report)."""

    predicted: int  # complete students whose latency is the predictor's
    timed: int  # complete students timed
    error: PredictorError | None  # on students it had not learned from; None: none yet
    judged: str  # on which: "predicted, then timed" (--latency predict) or "second half"

    def to_dict(self) -> dict[str, Any]:
        error = None if self.error is None else self.error.__dict__
        return {"predicted": self.predicted, "timed": self.timed, "error": error,
                "judged": self.judged}  # fmt: skip


def prediction_text(record: dict[str, Any]) -> str:
    """The summary's `latency_prediction` in one sentence (the report and the command line)."""
    error = record.get("error")
    rho = "n/a" if not error or error["spearman"] is None else f"{error['spearman']:.2f}"
    if record.get("judged") == "second half":
        return (
            f"latency predictor (additive per operator) learned from the first "
            f"{error['trained_on']} timed students: within +-{TOLERANCE:.0%} for "
            f"{error['within']:.0%} of the other {error['tested_on']} (Spearman {rho})"
        )
    text = (
        f"latency predicted for {record['predicted']} students (flagged latency_predicted, "
        f"never on the front), timed for {record['timed']}"
    )
    if not error:
        return text + "; no prediction has been checked against a timing yet"
    return (
        f"{text}; on the {error['tested_on']} predicted before they were timed, the predictor "
        f"was within +-{TOLERANCE:.0%} for {error['within']:.0%} (Spearman {rho})"
    )


def prediction_record(study: Any, frame: Any, target: Any) -> PredictionRecord | None:
    """The predictor's record of a run: under --latency predict, on the students it predicted
    before they were timed; otherwise learned from the first half of the timed students and
    judged on the second (at least 3 each). None when there is nothing to judge."""
    column = names.LATENCY_PREDICTION_ATTR
    complete = frame[frame["state"] == "COMPLETE"]
    if column in frame and frame[column].notna().any():
        predicted = complete[names.LATENCY_PREDICTED_ATTR].eq(True)
        checked = complete[~predicted & complete[column].notna()]
        error = None
        if len(checked):
            error = error_of(checked[column].astype(float).tolist(),
                             checked["latency_ms"].astype(float).tolist(),
                             trained_on=int((~predicted).sum()))  # fmt: skip
        return PredictionRecord(int(predicted.sum()), int((~predicted).sum()), error,
                                "predicted, then timed")  # fmt: skip
    try:  # a diagnostic: whatever goes wrong in it never costs the run its summary
        return _second_half_record(study, complete, target)
    except Exception:  # noqa: BLE001
        return None


def _second_half_record(study: Any, complete: Any, target: Any) -> PredictionRecord | None:
    from autokd.measure.metrics import latency_input_shape
    from autokd.measure.predictor import held_out_error, operator_features
    from autokd.study.trial import TrialRecord

    numbers = set(complete["number"].astype(int))
    trials = sorted((t for t in study.get_trials(deepcopy=False) if t.number in numbers),
                    key=lambda t: t.number)  # fmt: skip
    latency = dict(zip(complete["number"].astype(int), complete["latency_ms"].astype(float),
                       strict=True))  # fmt: skip
    trials = trials[-MAX_JUDGED:]
    if len(trials) < 6:
        return None
    features, latencies = [], []
    for trial in trials:  # (counted from the shapes: about 25 ms a student, unless stored)
        stored = trial.user_attrs.get(names.LATENCY_FEATURES_ATTR)
        if stored is None:
            student = TrialRecord.from_attrs(trial.user_attrs).student
            shape = latency_input_shape(student, target)
            stored = operator_features(student, shape, target.batch_size)
        features.append(np.asarray(stored, dtype=np.float64))
        latencies.append(latency[trial.number])
    error = held_out_error(features, latencies, trained_on=len(trials) // 2)
    return PredictionRecord(0, len(trials), error, "second half")
