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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autokd.cache import write_json
from autokd.config import KDConfig, TrainConfig
from autokd.cores import set_training_threads, threads_for, threads_override
from autokd.device import Execution
from autokd.environment import physical_cores
from autokd.errors import AutoKDError
from autokd.records import RunFolder, TrialRecord, load_study, trials_frame
from autokd.students import StudentSpec
from autokd.summary import DataIdentity, TeacherIdentity
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


@dataclass(frozen=True)
class _Retraining:
    """One retraining `autokd validate` runs: a trial's student, with KD or without."""

    trial: int
    label: str  # "kd" or "no_kd"
    student: StudentSpec
    kd: KDConfig | None
    schedule: TrainConfig


@dataclass(frozen=True)
class _Setting:
    """What every retraining shares, prepared once per process (a worker prepares its own)."""

    data: DataIdentity
    teacher: TeacherIdentity
    teacher_weights: Path | None
    augment: bool
    execution: Execution
    threads: int


_PREPARED: dict[str, Any] = {}  # a worker process's data and teacher signal


def _prepare(setting: _Setting, *, progress: bool = False) -> None:
    set_training_threads(setting.threads)
    data = load_identified_data(setting.data)
    teacher = load_identified_teacher(
        setting.teacher,
        data,
        weights=setting.teacher_weights,
        progress=progress,
        execution=setting.execution,
    )
    signal = teacher_signal(teacher, data, augment=setting.augment)
    _PREPARED["data"], _PREPARED["signal"] = place_on_device(data, signal, setting.execution)
    _PREPARED["execution"] = setting.execution


def _retrain(job: _Retraining, callbacks: list[Any] | None = None) -> float:
    _, fitted = train_student(
        job.student,
        job.kd,
        job.schedule,
        _PREPARED["data"],
        _PREPARED["signal"],
        callbacks=callbacks,
        execution=_PREPARED["execution"],
    )
    return fitted.val_accuracy


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
    workers: int | None = 1,
) -> dict[str, Any]:
    """Retrain `top_k` students of the front (`spread_along` it) for `epochs` epochs, with KD and
    without (same seed), and store the Kendall tau and the KD gains in the run.

    With `workers` above one (None: one per physical core, at most one per retraining), the
    retrainings run in that many processes, one training thread each, as search trials do."""
    from autokd.progress import epoch_bar

    execution = execution or Execution()
    started = time.perf_counter()
    study = load_study(run)
    frame = trials_frame(study)
    front = frame[(frame["state"] == "COMPLETE") & frame["is_pareto"]]
    if front.empty:
        raise AutoKDError(f"run '{run.path}' has no complete trial to validate")
    chosen = spread_along(front, top_k)
    trials = study.get_trials(deepcopy=False)
    data_identity = run.data_identity()
    augment = augment and load_identified_data(data_identity).augment is not None
    jobs = []
    for row in chosen.itertuples(index=False):
        record = TrialRecord.from_attrs(trials[int(row.number)].user_attrs)
        schedule = dataclasses.replace(record.train, epochs=epochs, seed=seed, augment=augment)
        for label, use_kd in (("kd", True), ("no_kd", False)):
            jobs.append(
                _Retraining(
                    int(row.number), label, record.student, record.kd if use_kd else None, schedule
                )  # fmt: skip
            )
    count = min(len(jobs), workers or physical_cores())
    setting = _Setting(
        data_identity,
        run.teacher_identity(),
        teacher_weights,
        augment,
        execution,
        threads_for(count) if count == 1 else (threads_override() or 1),
    )
    accuracy: dict[tuple[int, str], float] = {}
    if count == 1:
        _prepare(setting, progress=progress)
        for position, job in enumerate(jobs, start=1):
            label = job.label.replace("_", " ")
            title = f"{(position + 1) // 2}/{len(chosen)} trial {job.trial} {label}"
            with epoch_bar(title, epochs, enabled=progress) as show:
                accuracy[job.trial, job.label] = _retrain(job, [show])
    else:
        accuracy = _retrain_in_workers(jobs, setting, count, progress=progress)

    students = []
    for row in chosen.itertuples(index=False):
        number = int(row.number)
        students.append(
            {
                "trial": number,
                "architecture": row.architecture,
                "latency_ms": float(row.latency_ms),
                "search_accuracy": float(row.accuracy),
                "kd_accuracy": accuracy[number, "kd"],
                "no_kd_accuracy": accuracy[number, "no_kd"],
                "kd_gain": accuracy[number, "kd"] - accuracy[number, "no_kd"],
            }
        )
    search = [s["search_accuracy"] for s in students]
    longer = [s["kd_accuracy"] for s in students]
    result = {
        "top_k": top_k,
        "students_validated": len(students),
        "epochs": epochs,
        "search_epochs": run.read_summary().epochs,
        "seed": seed,
        "augment": augment,
        "kendall_tau": kendall_tau(search, longer),
        "mean_kd_gain": sum(s["kd_gain"] for s in students) / len(students),
        "students": students,
        "seconds": round(time.perf_counter() - started, 1),
        "workers": count,
        "training": execution.to_dict(),
    }
    write_json(run.validation_json, result)
    return result


def _retrain_in_workers(
    jobs: list[_Retraining], setting: _Setting, workers: int, *, progress: bool
) -> dict[tuple[int, str], float]:
    """The retrainings spread over `workers` processes (each prepares the data and teacher once,
    from the caches); a bar counts the finished ones."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    # Found, refused, or trained again (and cached) here, once: not by every worker at once.
    load_identified_teacher(
        setting.teacher,
        load_identified_data(setting.data),
        weights=setting.teacher_weights,
        progress=progress,
    )
    context = multiprocessing.get_context("spawn")  # fresh processes: no forked thread pools
    results: dict[tuple[int, str], float] = {}
    with (
        ProcessPoolExecutor(
            workers, mp_context=context, initializer=_prepare, initargs=(setting,)
        ) as pool,
        tqdm(total=len(jobs), desc=f"validate ({workers} workers)", disable=not progress) as bar,
    ):
        futures = {pool.submit(_retrain, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            results[job.trial, job.label] = future.result()
            bar.update(1)
    return results
