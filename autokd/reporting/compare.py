"""The numbers `autokd compare` shows, as plain objects: several runs' fronts on shared axes.

Hypervolumes of different runs are comparable only against one reference point, so the point is
computed once over every run's complete trials (the lowest accuracy and the highest latency seen
anywhere, trusted latencies only). Latencies measured on different targets, or on another
machine, are not comparable: such runs are refused unless the caller allows mixing, and then
every run is labelled with where its latencies were measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from autokd.errors import AutoKDError
from autokd.records.folder import RunFolder, load_study
from autokd.records.summary import RunSummary
from autokd.reporting.data import COST_AXES, front_of, reference_point, trusted_rows
from autokd.study.pareto import hypervolume_2d
from autokd.study.tables import trials_frame


@dataclass(frozen=True)
class ComparedRun:
    name: str
    path: str
    summary: RunSummary
    complete: pd.DataFrame  # complete trials
    fronts: dict[str, list[int]]  # cost column -> trial numbers on the accuracy-cost front
    hypervolume: float  # of the accuracy-latency front, against the shared reference
    measured_on: str  # target and machine, for labels when targets are mixed


@dataclass(frozen=True)
class CompareData:
    runs: list[ComparedRun]
    reference: tuple[float, float] | None  # (accuracy, latency_ms) shared by every hypervolume
    left_out: int  # doubtful latencies the reference point was placed without
    differences: list[tuple[str, list[str], bool]]  # setting, value per run, whether they differ
    mixed_targets: bool


def measurement_key(summary: RunSummary) -> dict[str, Any]:
    """Everything a latency depends on besides the architecture: the target's settings and the
    machine's fingerprint (CPU, library versions, GPU), as the run recorded them."""
    environment = summary.environment
    fingerprint = summary.latency_fingerprint or {
        "cpu": environment.get("cpu"),
        "torch": environment.get("torch"),
    }
    return {**summary.target.settings(), **fingerprint}


def _differences(keys: list[dict[str, Any]], names: list[str]) -> str:
    """`threads: a=2, b=1; cpu: ...` for every field the keys disagree on."""
    fields = sorted({f for key in keys for f in key if len({str(k.get(f)) for k in keys}) > 1})
    return "; ".join(
        f"{field}: " + ", ".join(f"{n}={k.get(field)}" for n, k in zip(names, keys, strict=True))
        for field in fields
    )


def _measured_on(summary: RunSummary) -> str:
    target, cpu = summary.target, summary.environment.get("cpu", "?")
    return f"{target.name}, {target.threads} thread(s), {cpu}"


SETTINGS: list[tuple[str, Any]] = [
    ("search space", lambda s: f"{s.space.name} ({s.space.digest})"),
    ("sampler", lambda s: s.sampler),
    ("budget", lambda s: s.budget),
    ("complete trials", lambda s: s.trials.get("complete", 0)),
    ("epochs per complete trial", lambda s: s.epochs),
    ("early stopping", lambda s: s.pruner),
    ("seed", lambda s: s.seed),
    (
        "teacher",
        lambda s: (
            f"{s.teacher.name} ({s.teacher.weights_digest}), accuracy {s.teacher.accuracy:.4f}"
        ),
    ),
    ("data", lambda s: f"{s.data.name} ({s.data.key})"),
    ("target", _measured_on),
]


def build_compare(folders: list[RunFolder], *, allow_mixed_targets: bool = False) -> CompareData:
    """Read every run, check that their latencies can share an axis, compute fronts and
    hypervolumes against one reference point."""
    if len(folders) < 2:
        raise AutoKDError("autokd compare needs at least two runs")
    names = [f.name for f in folders]
    if len(set(names)) < len(names):
        raise AutoKDError(f"two of the runs share a name ({', '.join(names)}); rename a copy")
    summaries = [f.read_summary() for f in folders]
    keys = [measurement_key(s) for s in summaries]
    mixed = any(key != keys[0] for key in keys[1:])
    if mixed and not allow_mixed_targets:
        raise AutoKDError(
            "the runs' latencies were measured on different targets or machines "
            f"({_differences(keys, names)}) and are not comparable; pass --allow-mixed-targets to "
            "draw them anyway, labelled"
        )
    completes = []
    for folder in folders:
        frame = trials_frame(load_study(folder))
        completes.append(frame[frame["state"] == "COMPLETE"])
    reference = reference_point(completes)
    _, left_out = trusted_rows(completes)
    runs = []
    for folder, summary, complete in zip(folders, summaries, completes, strict=True):
        points = complete[["accuracy", "latency_ms"]].to_numpy(float)
        runs.append(
            ComparedRun(
                name=folder.name,
                path=str(folder.path),
                summary=summary,
                complete=complete,
                fronts={cost: front_of(complete, cost) for cost in COST_AXES},
                hypervolume=hypervolume_2d(points, ["maximize", "minimize"], reference)
                if reference
                else 0.0,
                measured_on=_measured_on(summary),
            )
        )
    differences = []
    for setting, read in SETTINGS:
        values = [str(read(s)) for s in summaries]
        differences.append((setting, values, len(set(values)) > 1))
    return CompareData(runs, reference, left_out, differences, mixed)
