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

from autokd.data import draws_views, load_identified_data
from autokd.distill.config import KDConfig, TrainConfig
from autokd.distill.training import place_on_device, train_student
from autokd.errors import AutoKDError
from autokd.records.cache import write_json
from autokd.records.folder import RunFolder, load_study
from autokd.records.results import ValidatedStudent, ValidationResult
from autokd.records.summary import DataIdentity, TeacherIdentity
from autokd.runtime.cores import set_training_threads, threads_for
from autokd.runtime.device import Execution
from autokd.runtime.environment import physical_cores
from autokd.runtime.plugins import load_plugins, plugin_modules
from autokd.runtime.settings import Settings
from autokd.students import StudentSpec
from autokd.study.tables import trials_frame
from autokd.study.trial import TrialRecord
from autokd.teachers import load_identified_teacher
from autokd.teachers.outputs import teacher_signal


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
    settings: Settings
    plugins: tuple[str, ...] = ()  # modules the calling process registered from


@dataclass(frozen=True)
class _Prepared:
    """The data and the teacher's signal every retraining of one process distils from."""

    data: Any
    signal: Any
    execution: Execution


def _prepare(setting: _Setting, *, progress: bool = False) -> _Prepared:
    set_training_threads(setting.threads)
    data = load_identified_data(setting.data, settings=setting.settings)
    teacher = load_identified_teacher(
        setting.teacher,
        data,
        weights=setting.teacher_weights,
        progress=progress,
        execution=setting.execution,
        settings=setting.settings,
    )
    signal = teacher_signal(teacher, data, augment=setting.augment, settings=setting.settings)
    data, signal = place_on_device(data, signal, setting.execution)
    return _Prepared(data, signal, setting.execution)


def _retrain(job: _Retraining, prepared: _Prepared, callbacks: list[Any] | None = None) -> float:
    _, fitted = train_student(
        job.student,
        job.kd,
        job.schedule,
        prepared.data,
        prepared.signal,
        callbacks=callbacks,
        execution=prepared.execution,
    )
    return fitted.val_accuracy


_POOL_PREPARED: list[_Prepared] = []  # in a retraining pool's own processes only


def _prepare_pool_process(setting: _Setting) -> None:
    load_plugins(setting.plugins, source="the validation that started this process")
    _POOL_PREPARED.append(_prepare(setting))


def _retrain_in_pool_process(job: _Retraining) -> float:
    return _retrain(job, _POOL_PREPARED[0])


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
    settings: Settings,
) -> ValidationResult:
    """Retrain `top_k` students of the front (`spread_along` it) for `epochs` epochs, with KD and
    without (same seed), and store the Kendall tau and the KD gains in the run.

    With `workers` above one (None: one per physical core, at most one per retraining), the
    retrainings run in that many processes, one training thread each, as search trials do."""
    from autokd.runtime.progress import epoch_bar

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
    augment = augment and draws_views(data_identity.name, data_identity.augment_policy)
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
        threads_for(count, settings.threads) if count == 1 else (settings.threads or 1),
        settings,
        tuple(plugin_modules()[0]),
    )
    accuracy: dict[tuple[int, str], float] = {}
    if count == 1:
        prepared = _prepare(setting, progress=progress)
        for position, job in enumerate(jobs, start=1):
            label = job.label.replace("_", " ")
            title = f"{(position + 1) // 2}/{len(chosen)} trial {job.trial} {label}"
            with epoch_bar(title, epochs, enabled=progress) as show:
                accuracy[job.trial, job.label] = _retrain(job, prepared, [show])
        del prepared  # nothing of the data or the teacher outlives the call
    else:
        accuracy = _retrain_in_workers(jobs, setting, count, progress=progress)

    students = []
    for row in chosen.itertuples(index=False):
        number = int(row.number)
        kd, no_kd = accuracy[number, "kd"], accuracy[number, "no_kd"]
        students.append(
            ValidatedStudent(
                trial=number,
                architecture=str(row.architecture),
                latency_ms=float(row.latency_ms),
                search_accuracy=_float32_accuracy(row),
                kd_accuracy=kd,
                no_kd_accuracy=no_kd,
                kd_gain=kd - no_kd,
            )
        )
    search = [s.search_accuracy for s in students]
    longer = [s.kd_accuracy for s in students]
    result = ValidationResult(
        top_k=top_k,
        epochs=epochs,
        students=tuple(students),
        kendall_tau=kendall_tau(search, longer),
        mean_kd_gain=sum(s.kd_gain for s in students) / len(students),
        students_validated=len(students),
        search_epochs=run.read_summary().epochs,
        seed=seed,
        augment=augment,
        seconds=round(time.perf_counter() - started, 1),
        workers=count,
        training=execution.to_dict(),
    )
    write_json(run.validation_json, result.to_dict())
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
        load_identified_data(setting.data, settings=setting.settings),
        weights=setting.teacher_weights,
        progress=progress,
        settings=setting.settings,
    )
    context = multiprocessing.get_context("spawn")  # fresh processes: no forked thread pools
    results: dict[tuple[int, str], float] = {}
    with (
        ProcessPoolExecutor(
            workers, mp_context=context, initializer=_prepare_pool_process, initargs=(setting,)
        ) as pool,
        tqdm(total=len(jobs), desc=f"validate ({workers} workers)", disable=not progress) as bar,
    ):
        futures = {pool.submit(_retrain_in_pool_process, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            results[job.trial, job.label] = future.result()
            bar.update(1)
    return results


def _float32_accuracy(row: Any) -> float:
    """The brief training's float32 accuracy, what a longer float32 training is compared with:
    on a target that quantizes, `accuracy` is the deployed model's and `accuracy_fp32` this."""
    fp32 = getattr(row, "accuracy_fp32", None)
    return float(row.accuracy if fp32 is None or pd.isna(fp32) else fp32)
