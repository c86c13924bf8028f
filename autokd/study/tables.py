"""trials.csv and pareto.csv: one row per trial, built from the study.

The columns: number, state, the objectives, the measured costs, `is_pareto`, every parameter the
space declared (in reading order; integer parameters stay integers where some trials lack them),
then the extras (`EXTRA_COLUMNS`) and `latency_doubt`: why a latency is not to be trusted
("contended", "few blocks", "noisy"; "" when it is). A trial closed unrun (`surplus`) is left out.
A latency `autokd remeasure` timed again replaces the first one (`REMEASURED_ATTR`). A student
whose latency is only predicted (`latency_predicted`, `--latency predict`) is never on the front.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from autokd.measure.protocol import MIN_TRUSTED_BLOCKS
from autokd.records import attrs as names
from autokd.records.attrs import OBJECTIVES, PARAMS_ATTR, REMEASURED_ATTR, SURPLUS_ATTR
from autokd.records.cache import atomic_write
from autokd.records.folder import RunFolder
from autokd.study.pareto import pareto_mask
from autokd.study.space import legacy_declarations

# recorded as user attributes, not objectives
ATTR_COLUMNS = [
    names.ACCURACY_FP32_ATTR,
    names.ACCURACY_DROP_ATTR,
    names.LATENCY_IQR_ATTR,
    names.PARAMS_COUNT_ATTR,
]
DEPLOYED_COLUMNS = [names.ACCURACY_FP32_ATTR, names.ACCURACY_DROP_ATTR, names.DEPLOY_SECONDS_ATTR]
HEAD_COLUMNS = [
    "number",
    "state",
    names.ACCURACY_ATTR,
    names.ACCURACY_FP32_ATTR,  # these two only for a target that quantizes
    names.ACCURACY_DROP_ATTR,
    names.LATENCY_ATTR,
    names.LATENCY_IQR_ATTR,
    names.FLOPS_ATTR,
    names.PARAMS_COUNT_ATTR,
    "is_pareto",
]
EXTRA_COLUMNS = [
    names.ARCHITECTURE_ATTR,
    names.LATENCY_NOISY_ATTR,
    names.LATENCY_CONTENDED_ATTR,
    names.LATENCY_BLOCKS_ATTR,
    names.LATENCY_DEVICE_ATTR,
    names.LATENCY_PREDICTED_ATTR,
    names.LATENCY_PREDICTION_ATTR,
    names.LATENCY_REMEASURED_ATTR,
    names.TRAIN_SECONDS_ATTR,
    names.DATA_SECONDS_ATTR,
    names.MEASURE_SECONDS_ATTR,
    names.DEPLOY_SECONDS_ATTR,
    names.METRICS_CACHED_ATTR,
    names.DIVERGED_ATTR,
    names.REJECTED_ATTR,
    names.STOPPED_ATTR,
    names.EPOCHS_ATTR,
    names.FAIL_ATTR,
]


def declared_params(study: Any) -> dict[str, dict[str, str]]:
    """The study's parameters, each with its kind and type, as the search declared them; a study
    written before declarations were stored gets those of the space it could have had."""
    return study.user_attrs.get(PARAMS_ATTR) or legacy_declarations()


def measured_costs(trial: Any) -> tuple[float, float] | None:
    """(latency_ms, FLOPs) of a trial: its objective values once complete, else the attributes
    recorded when it was measured (running, stopped, or rejected by a limit); None before."""
    if trial.values:
        return float(trial.values[1]), float(trial.values[2])
    attrs = trial.user_attrs
    if names.LATENCY_ATTR in attrs and names.FLOPS_ATTR in attrs:
        return float(attrs[names.LATENCY_ATTR]), float(attrs[names.FLOPS_ATTR])
    return None


# Why a latency is doubtful (`latency_doubt`'s reasons), as the report and compare explain them
LATENCY_DOUBTS = {
    "contended": "timed while other programs took the cores",
    "few blocks": "timed in too few blocks for a spread",
    "noisy": "its spread (IQR) was above a tenth of its median",
}


def latency_doubt(attrs: dict[str, Any]) -> str:
    """Why a trial's latency is doubtful, from what the protocol recorded (`measure.latency`):
    timed while other programs took the cores, in too few blocks for an IQR, or with a spread
    above the threshold; "" for a trusted one (and for a trial never timed)."""
    if attrs.get(names.LATENCY_CONTENDED_ATTR):
        return "contended"
    blocks = attrs.get(names.LATENCY_BLOCKS_ATTR)
    if blocks is not None and blocks < MIN_TRUSTED_BLOCKS:
        return "few blocks"
    return "noisy" if attrs.get(names.LATENCY_NOISY_ATTR) else ""


def trials_frame(study: Any) -> pd.DataFrame:
    """One row per trial: number, state, objectives, metrics, is_pareto, parameters, extras."""
    declared = declared_params(study)
    sampled = {name for trial in study.get_trials(deepcopy=False) for name in trial.params}
    param_names = list(declared) + sorted(sampled - set(declared))
    remeasured = study.user_attrs.get(REMEASURED_ATTR, {})
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if attrs.get(SURPLUS_ATTR):  # closed unrun: a worker lost the race for the last slot
            continue
        # A trial rejected by the constraints has no objective values, only its measurements.
        values = list(trial.values or [attrs.get(name) for name, _ in OBJECTIVES])
        if str(trial.number) in remeasured:
            attrs = {**attrs, **remeasured[str(trial.number)]}
            values[1] = attrs[names.LATENCY_ATTR]
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        row.update({name: value for (name, _), value in zip(OBJECTIVES, values, strict=True)})
        row.update({column: attrs.get(column) for column in ATTR_COLUMNS})
        row["is_pareto"] = False
        row.update({name: trial.params.get(name) for name in param_names})
        row.update({column: attrs.get(column) for column in EXTRA_COLUMNS})
        row["latency_doubt"] = latency_doubt(attrs)
        rows.append(row)
    columns = [*HEAD_COLUMNS, *param_names, *EXTRA_COLUMNS, "latency_doubt"]
    frame = pd.DataFrame(rows, columns=columns)
    frame[["flops", "params"]] = frame[["flops", "params"]].astype("Int64")
    # a student whose latency is only predicted (--latency predict) is never on the front
    predicted = frame[names.LATENCY_PREDICTED_ATTR].eq(True)
    complete = (frame["state"] == "COMPLETE") & ~predicted
    if complete.any():
        objective_values = frame.loc[complete, [n for n, _ in OBJECTIVES]].to_numpy(float)
        frame.loc[complete, "is_pareto"] = pareto_mask(objective_values, [d for _, d in OBJECTIVES])
    frame["is_pareto"] = frame["is_pareto"].astype(bool)
    # Drop parameter columns no trial sampled (a stage count the space never reached), and keep
    # integer parameters integer where some trials lack them (fewer stages).
    frame = frame.drop(columns=[n for n in param_names if frame[n].isna().all()])
    # The deployed model's columns only where a target quantizes, the predictions only where
    # latencies were predicted (otherwise no trial has them)
    optional = [*DEPLOYED_COLUMNS, names.LATENCY_PREDICTION_ATTR]
    frame = frame.drop(columns=[n for n in optional if frame[n].isna().all()])
    for column in frame.columns.intersection(param_names):
        if declared.get(column, {}).get("type") == "int":
            frame[column] = frame[column].astype("Int64")
    return frame


def write_tables(folder: RunFolder, frame: pd.DataFrame) -> pd.DataFrame:
    """Write trials.csv and pareto.csv; returns the Pareto rows, fastest first."""
    front = frame[frame["is_pareto"]].sort_values("latency_ms")
    atomic_write(folder.trials_csv, lambda tmp: frame.to_csv(tmp, index=False))
    atomic_write(folder.pareto_csv, lambda tmp: front.to_csv(tmp, index=False))
    return front
