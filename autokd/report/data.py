"""The numbers a run report shows, as plain objects: tests check these, not pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from autokd.pareto import pareto_mask
from autokd.records import RunFolder, load_study, trials_frame

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
    summary: dict[str, Any]
    trials: pd.DataFrame  # every trial (trials.csv's columns)
    complete: pd.DataFrame  # complete trials with a `hover` column
    fronts: list[FrontInfo]
    pareto: pd.DataFrame  # the study's own front (accuracy, latency, FLOPs), fastest first
    counts: dict[str, int]  # trials by state


def front_of(frame: pd.DataFrame, cost: str) -> list[int]:
    """Trial numbers on the accuracy-`cost` front (maximise accuracy, minimise cost)."""
    if frame.empty:
        return []
    mask = pareto_mask(frame[["accuracy", cost]].to_numpy(float), ["maximize", "minimize"])
    return frame[mask].sort_values(cost)["number"].astype(int).tolist()


def hover_text(row: pd.Series) -> str:
    weights = [
        f"{row[c]:g}" for c in row.index if c.endswith("_feature_weight") and pd.notna(row[c])
    ]
    return "<br>".join(
        [
            f"trial {int(row['number'])}",
            f"accuracy {row['accuracy']:.4f}",
            f"latency {row['latency_ms']:.3f} ms (IQR {row['latency_iqr_ms']:.3f})",
            f"{row['flops'] / 1e6:.2f} MFLOPs, {row['params'] / 1e3:.1f} k params",
            f"stages: {row['architecture']}",
            f"T {row['temperature']:.2f}, alpha {row['alpha']:.2f}, feature weights "
            f"[{', '.join(weights)}], lr {row['lr']:.4f}",
        ]
    )


def build_run_report(folder: RunFolder, *, summary: dict[str, Any] | None = None) -> RunReportData:
    """Read the run's study (the source of truth) and summary, and compute what the report shows."""
    summary = summary if summary is not None else folder.read_json(folder.summary_json)
    frame = trials_frame(load_study(folder))
    complete = frame[frame["state"] == "COMPLETE"].copy()
    complete["hover"] = [hover_text(row) for _, row in complete.iterrows()]
    fronts = [FrontInfo(cost, label, front_of(complete, cost)) for cost, label in COST_AXES.items()]
    return RunReportData(
        name=folder.name,
        summary=summary,
        trials=frame,
        complete=complete,
        fronts=fronts,
        pareto=complete[complete["is_pareto"]].sort_values("latency_ms"),
        counts={state.lower(): int(n) for state, n in frame["state"].value_counts().items()},
    )
