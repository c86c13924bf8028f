"""The numbers a run report shows, as plain objects: tests check these, not pixels."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autokd.distill.config import KDConfig
from autokd.records.folder import RunFolder, load_study
from autokd.records.params import ARCHITECTURE
from autokd.records.results import ValidationResult
from autokd.records.summary import RunSummary
from autokd.study.pareto import hypervolume_2d, pareto_mask
from autokd.study.picks import Pick, front_picks
from autokd.study.tables import LATENCY_DOUBTS, declared_params, trials_frame
from autokd.study.trial import TrialRecord
from autokd.teachers.checks import teacher_behind_note

# The report's two fronts: accuracy against each cost, with its axis label.
COST_AXES: dict[str, str] = {
    "latency_ms": "latency (ms, median)",
    "flops": "FLOPs (fvcore: 1 multiply-add = 1 flop)",
}


@dataclass(frozen=True)
class FrontInfo:
    cost: str  # column of the cost axis: "latency_ms" or "flops"
    label: str
    front: list[int]  # trial numbers on the accuracy-cost front, cheapest first


@dataclass(frozen=True)
class RunReportData:
    name: str
    run_path: str  # the run folder, as the export commands in the report name it
    summary: RunSummary
    trials: pd.DataFrame  # every trial (trials.csv's columns)
    complete: pd.DataFrame  # complete trials with a `hover` column
    fronts: list[FrontInfo]
    pareto: pd.DataFrame  # the study's own front (accuracy, latency, FLOPs), fastest first
    counts: dict[str, int]  # trials by state
    hypervolume_reference: tuple[float, float] | None  # (accuracy, latency_ms); None: no trials
    hypervolume: list[HypervolumeStep]  # after each complete trial, in the order they completed
    validation: ValidationResult | None  # what `autokd validate` stored, if it ran
    importances: dict[str, dict[str, float]]  # objective -> parameter -> fANOVA importance
    rejected: pd.DataFrame  # trials over a constraint: measured, never trained
    stopped: pd.DataFrame  # trials the stopper ended, with a `hover` column
    picks: list[Pick]  # what `autokd export --pick` takes: knee, best-accuracy, fastest
    front_doubts: dict[str, int]  # doubtful latencies on the accuracy-latency front, by reason
    teacher_note: str | None  # the teacher is behind its students (`teachers.checks`)


def front_of(frame: pd.DataFrame, cost: str) -> list[int]:
    """Trial numbers on the accuracy-`cost` front (maximise accuracy, minimise cost)."""
    if frame.empty:
        return []
    mask = pareto_mask(frame[["accuracy", cost]].to_numpy(float), ["maximize", "minimize"])
    return frame[mask].sort_values(cost)["number"].astype(int).tolist()


def accuracy_text(row: pd.Series) -> str:
    """`accuracy 0.9806`; on a target that quantizes, with the float32 accuracy and the drop."""
    text = f"accuracy {row['accuracy']:.4f}"
    if pd.notna(row.get("accuracy_fp32")):
        text += f" deployed (float32 {row['accuracy_fp32']:.4f}, drop {row['accuracy_drop']:+.4f})"
    return text


def hover_text(row: pd.Series, kd: KDConfig) -> str:
    doubt = row.get("latency_doubt") or ""
    remeasured = " (timed again)" if row.get("latency_remeasured") else ""
    return "<br>".join(
        [
            f"trial {int(row['number'])}",
            accuracy_text(row),
            f"latency {row['latency_ms']:.3f} ms (IQR {row['latency_iqr_ms']:.3f}){remeasured}"
            + (f"<br><b>latency doubtful</b>: {LATENCY_DOUBTS[doubt]}" if doubt else ""),
            f"{row['flops'] / 1e6:.2f} MFLOPs, {row['params'] / 1e3:.1f} k params",
            f"stages: {row['architecture']}",
            f"{kd.describe()}, lr {row['lr']:.3g}",
        ]
    )


@dataclass(frozen=True)
class HypervolumeStep:
    number: int  # the trial that completed
    minutes: float | None  # of working time when it completed (None: not recorded)
    volume: float  # of the accuracy-latency front of the trials complete so far


def hypervolume_history(
    complete: pd.DataFrame, reference: tuple[float, float]
) -> list[HypervolumeStep]:
    """The hypervolume after each complete trial, in the order they completed (`minutes`
    column) or of their numbers: what a search bought with its wall time."""
    ordered = complete.sort_values(["minutes", "number"]) if "minutes" in complete else complete
    history: list[HypervolumeStep] = []
    front = np.empty((0, 2))
    for row in ordered.itertuples(index=False):
        points = np.vstack([front, [row.accuracy, row.latency_ms]])
        front = points[pareto_mask(points, ["maximize", "minimize"])]
        minutes = getattr(row, "minutes", None)
        history.append(
            HypervolumeStep(
                int(row.number),
                None if minutes is None or pd.isna(minutes) else float(minutes),
                hypervolume_2d(front, ["maximize", "minimize"], reference),
            )
        )
    return history


def working_minutes(trials: dict[int, Any], numbers: Any) -> list[float | None]:
    """When each of `numbers` completed, in minutes of the run's working time: the time some
    trial was running, so that the hours between a run and its continuation do not count."""
    busy: list[list[Any]] = []  # the spans when some trial ran, merged, in order
    spans = [(t.datetime_start, t.datetime_complete) for t in trials.values()]
    for start, end in sorted(s for s in spans if s[0] is not None and s[1] is not None):
        if busy and start <= busy[-1][1]:
            busy[-1][1] = max(busy[-1][1], end)
        else:
            busy.append([start, end])

    def busy_until(moment: Any) -> float:
        seconds = (min(end, moment) - start for start, end in busy if start < moment)
        return sum(s.total_seconds() for s in seconds) / 60

    ends = (trials[int(n)].datetime_complete for n in numbers)
    return [None if end is None else busy_until(end) for end in ends]


def build_run_report(
    folder: RunFolder, *, study: Any = None, summary: RunSummary | None = None
) -> RunReportData:
    """Compute what the report shows from the run's study (the source of truth) and summary."""
    summary = summary if summary is not None else folder.read_summary()
    study = study if study is not None else load_study(folder)
    frame = trials_frame(study)
    complete = frame[frame["state"] == "COMPLETE"].copy()
    # The settings each trial trained with, sampled or fixed by the space (then not a column).
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    records = [TrialRecord.from_attrs(trials[n].user_attrs) for n in complete["number"]]
    kd = [record.kd for record in records]
    complete["temperature"] = [k.temperature for k in kd]
    complete["alpha"] = [k.alpha for k in kd]
    complete["lr"] = [record.train.lr for record in records]
    complete["distillation"] = [k.describe() for k in kd]
    complete["minutes"] = working_minutes(trials, complete["number"])
    complete["hover"] = [
        hover_text(row, k) for (_, row), k in zip(complete.iterrows(), kd, strict=True)
    ]
    fronts = [FrontInfo(cost, label, front_of(complete, cost)) for cost, label in COST_AXES.items()]
    reference = reference_point([complete])
    validation = folder.read_validation()
    return RunReportData(
        name=folder.name,
        run_path=str(folder.path),
        summary=summary,
        trials=frame,
        complete=complete,
        fronts=fronts,
        pareto=complete[complete["is_pareto"]].sort_values("latency_ms"),
        counts={state.lower(): int(n) for state, n in frame["state"].value_counts().items()},
        hypervolume_reference=reference,
        hypervolume=hypervolume_history(complete, reference) if reference else [],
        validation=validation,
        importances=parameter_importances(study, len(complete)),
        rejected=frame[frame["rejected_by"].notna()],
        stopped=_stopped_rows(frame),
        picks=front_picks(complete[complete["is_pareto"]]),
        front_doubts=_doubts_on(complete, next(f.front for f in fronts if f.cost == "latency_ms")),
        teacher_note=teacher_behind_note(
            summary.teacher.name, summary.teacher.accuracy, summary.best_accuracy
        ),
    )


def _doubts_on(complete: pd.DataFrame, front: list[int]) -> dict[str, int]:
    reasons = complete.set_index("number").loc[front, "latency_doubt"]
    return {reason: int(n) for reason, n in reasons[reasons != ""].value_counts().items()}


def _stopped_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The students the early stopper ended, with what they reached and why they stopped."""
    stopped = frame[frame["stopped_by"].notna()].copy()
    stopped["hover"] = [
        f"trial {int(r.number)}: stopped after epoch {int(r.epochs_trained)} at accuracy "
        f"{r.accuracy:.4f}<br>{html.escape(str(r.stopped_by))}<br>"
        + html.escape(str(r.architecture))
        for r in stopped.itertuples(index=False)
    ]
    return stopped


REFERENCE_MARGIN = 0.1  # of each objective's range, beyond its worst value


def trusted_rows(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """The rows of `frames` whose latency is trusted, and how many doubtful ones were left out
    (all rows when none is trusted: a reference point from doubtful values beats none)."""
    rows = pd.concat([f[["accuracy", "latency_ms", "latency_doubt"]] for f in frames])
    trusted = rows[rows["latency_doubt"] == ""]
    if trusted.empty:
        return rows, 0
    return trusted, len(rows) - len(trusted)


def reference_point(frames: list[pd.DataFrame]) -> tuple[float, float] | None:
    """The hypervolume reference for the complete trials of `frames` (one run, or every run of a
    comparison: one shared point): a tenth of each range worse than the lowest accuracy and the
    highest latency, so the extreme students count too. Only trusted latencies place it: one
    student timed while the machine was busy would otherwise stretch the latency range and
    squeeze every other point. None without a complete trial."""
    rows, _ = trusted_rows(frames)
    if rows.empty:
        return None
    accuracy, latency = rows["accuracy"], rows["latency_ms"]
    accuracy_span = (accuracy.max() - accuracy.min()) or 0.01
    latency_span = (latency.max() - latency.min()) or 0.1 * latency.max()
    return (
        float(accuracy.min() - REFERENCE_MARGIN * accuracy_span),
        float(latency.max() + REFERENCE_MARGIN * latency_span),
    )


MIN_TRIALS_FOR_IMPORTANCE = 5


def parameter_importances(study: Any, complete: int) -> dict[str, dict[str, float]]:
    """fANOVA importances (Optuna's evaluator, seeded) of the parameters that every complete
    trial has: for accuracy all of them, for latency the architecture's only."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    if complete < MIN_TRIALS_FOR_IMPORTANCE:
        return {}
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    shared = set.intersection(*(set(t.params) for t in trials))
    varied = sorted(p for p in shared if len({t.params[p] for t in trials}) > 1)
    # Latency depends on the architecture alone: only its parameters (as declared) explain it.
    kinds = declared_params(study)
    architecture = [p for p in varied if kinds.get(p, {}).get("kind") == ARCHITECTURE]
    result = {}
    for objective, position, params in (("accuracy", 0, varied), ("latency_ms", 1, architecture)):
        if not params:
            continue
        importances = get_param_importances(
            study,
            evaluator=FanovaImportanceEvaluator(seed=0),
            params=params,
            target=lambda trial, i=position: trial.values[i],
        )
        result[objective] = {name: float(value) for name, value in importances.items()}
    return result
