"""`autokd validate`: does the search's brief training rank students as longer training does, and
does distillation help? Retrains students of a run's front, with and without KD.

The students are spread evenly along the front by latency, from the fastest to the slowest, not
taken from its accurate end only: there, accuracies sit within an image or two of each other and
any ranking is noise, while the question is whether brief training orders the trade-offs the
user chooses between.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autokd.cache import write_json
from autokd.config import KDConfig, StudentConfig, TrainConfig
from autokd.cores import set_training_threads, threads_for
from autokd.device import Execution
from autokd.errors import AutoKDError
from autokd.records import RunFolder, load_study, trials_frame
from autokd.training import (
    load_identified_data,
    load_identified_teacher,
    place_on_device,
    teacher_signal,
    train_student,
)


def kendall_tau(a: list[float], b: list[float]) -> float | None:
    """Kendall's tau-b between two rankings (ties allowed); None when either is all ties."""
    from scipy.stats import kendalltau

    if len(a) < 2:
        return None
    tau = kendalltau(a, b).statistic
    return None if math.isnan(tau) else float(tau)


def spread_along(front: pd.DataFrame, k: int) -> pd.DataFrame:
    """`k` rows of `front`, evenly spaced in latency order, the fastest and the slowest included."""
    ordered = front.sort_values(["latency_ms", "accuracy"], ascending=[True, False])
    if len(ordered) <= k:
        return ordered
    positions = np.unique(np.round(np.linspace(0, len(ordered) - 1, k)).astype(int))
    return ordered.iloc[positions]


def validate_run(
    run: RunFolder,
    *,
    top_k: int,
    epochs: int,
    seed: int = 0,
    teacher_weights: Path | None = None,
    augment: bool = False,
    progress: bool = True,
    execution: Execution | None = None,
) -> dict[str, Any]:
    """Retrain `top_k` students of the front (`spread_along` it) for `epochs` epochs, with KD and
    without (same seed), and store the Kendall tau and the KD gains in the run."""
    from autokd.progress import epoch_bar

    execution = execution or Execution()
    set_training_threads(threads_for(1))
    started = time.perf_counter()
    study = load_study(run)
    frame = trials_frame(study)
    front = frame[(frame["state"] == "COMPLETE") & frame["is_pareto"]]
    if front.empty:
        raise AutoKDError(f"run '{run.path}' has no complete trial to validate")
    chosen = spread_along(front, top_k)
    trials = study.get_trials(deepcopy=False)
    data = load_identified_data(run.data_identity())
    teacher = load_identified_teacher(
        run.teacher_identity(),
        data,
        weights=teacher_weights,
        progress=progress,
        execution=execution,
    )
    augment = augment and data.augment is not None  # as `autokd train --augment` trains
    data, outputs = place_on_device(data, teacher_signal(teacher, data, augment=augment), execution)

    students = []
    for position, row in enumerate(chosen.itertuples(index=False), start=1):
        attrs = trials[int(row.number)].user_attrs
        config = StudentConfig.from_dict(attrs["student"])
        kd = KDConfig.from_dict(attrs["kd"])
        schedule = dataclasses.replace(
            TrainConfig(**attrs["train"]), epochs=epochs, seed=seed, augment=augment
        )
        accuracies = {}
        for label, use_kd in (("kd", True), ("no_kd", False)):
            title = f"{position}/{len(chosen)} trial {int(row.number)} {label.replace('_', ' ')}"
            with epoch_bar(title, epochs, enabled=progress) as show:
                _, fitted = train_student(
                    config,
                    kd if use_kd else None,
                    schedule,
                    data,
                    outputs,
                    callbacks=[show],
                    execution=execution,
                )
            accuracies[label] = fitted.val_accuracy
        students.append(
            {
                "trial": int(row.number),
                "architecture": row.architecture,
                "latency_ms": float(row.latency_ms),
                "search_accuracy": float(row.accuracy),
                "kd_accuracy": accuracies["kd"],
                "no_kd_accuracy": accuracies["no_kd"],
                "kd_gain": accuracies["kd"] - accuracies["no_kd"],
            }
        )
    search = [s["search_accuracy"] for s in students]
    longer = [s["kd_accuracy"] for s in students]
    result = {
        "top_k": top_k,
        "students_validated": len(students),
        "epochs": epochs,
        "search_epochs": int(run.read_json(run.summary_json)["epochs"]),
        "seed": seed,
        "augment": augment,
        "kendall_tau": kendall_tau(search, longer),
        "mean_kd_gain": sum(s["kd_gain"] for s in students) / len(students),
        "students": students,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(run.validation_json, result)
    return result
