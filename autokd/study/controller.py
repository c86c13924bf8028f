"""The controller: a run's study opened or continued, what every trial shares prepared once, the
trials run by this process and its workers, and the run folder's tables and summary written.

The study has three objectives: maximise validation accuracy, minimise latency on the target, and
minimise FLOPs. Latency is what the student costs on the hardware it was measured on; FLOPs are
what it costs elsewhere (another device, batch size or runtime), and they are free of timing
noise. A student is on the front when no other is at least as good on all three and better on one.

Everything a trial needs that does not change between trials is prepared once, before the first:
the data tensors, the teacher (trained once and cached), and the teacher's logits and feature maps
on every training image (cached), so no trial runs the teacher. FLOPs and latency are cached per
architecture across runs (`measure.metrics.MetricsCache`). The HTML report is the caller's
(`autokd.api.search` renders it from what this writes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from autokd.data import DataBundle, get_dataset, load_data, load_identified_data
from autokd.distill.training import place_on_device
from autokd.errors import AutoKDError, Terminated, printable
from autokd.measure.flops import FLOPS_CONVENTION
from autokd.measure.latency import check_target_usable, protocol_text, target_threads
from autokd.measure.metrics import MetricsCache, machine_fingerprint
from autokd.measure.targets import load_target
from autokd.records.attrs import (
    DIRECTIONS,
    FAIL_ATTR,
    OBJECTIVE_NAMES,
    OBJECTIVES,
    PARAMS_ATTR,
    RUN_ATTR,
    SUMMARY_ATTR,
)
from autokd.records.cache import atomic_write, write_json
from autokd.records.codec import from_mapping
from autokd.records.folder import RunFolder, read_worker_record
from autokd.records.run import RunRecord, WorkerRecord, YamlFile
from autokd.records.storage import (
    check_study_file,
    load_run_study,
    masked,
    open_storage,
    storage_writes_said,
)
from autokd.records.summary import (
    DataRecord,
    RunSummary,
    SpaceRecord,
    TargetRecord,
    TeacherRecord,
    TrainingRecord,
)
from autokd.records.yamlfiles import stable_hash
from autokd.runtime.cores import set_training_threads, threads_for
from autokd.runtime.device import resolve_execution
from autokd.runtime.environment import environment_info
from autokd.runtime.plugins import plugin_modules
from autokd.runtime.settings import Settings
from autokd.runtime.state import optuna_quiet
from autokd.study.config import RunConfig, TrialSettings
from autokd.study.latency_plan import prediction_record
from autokd.study.objective import TrialObjective
from autokd.study.pareto import pareto_mask
from autokd.study.pruners import get_pruner
from autokd.study.samplers import make_sampler
from autokd.study.space import (
    check_space_size,
    check_space_within_limits,
    load_space,
    param_declarations,
)
from autokd.study.tables import trials_frame, write_tables
from autokd.study.workers import (
    WorkerPlan,
    counted_states,
    fail_abandoned,
    plan_workers,
    run_trials,
    start_local_workers,
    stop_local_workers,
    worker_sampler_seed,
)
from autokd.teachers import (
    PreparedTeacher,
    check_teacher_name,
    load_identified_teacher,
    prepare_teacher,
)
from autokd.teachers.checks import check_teacher_beats_chance
from autokd.teachers.outputs import teacher_outputs


@dataclass(frozen=True)
class SearchOutcome:
    folder: RunFolder
    summary: RunSummary
    report_path: Path  # where the summary says the report goes (the caller renders it)
    trials_run: int  # trials this invocation ran (a continued study already had some)
    interrupted: bool
    plan: WorkerPlan
    study: Any
    terminated: bool = False  # interrupted by SIGTERM rather than Ctrl-C


def check_existing_run(folder: RunFolder, config: RunConfig) -> RunRecord | None:
    """The record of the run `folder` holds when this command may continue it; None for a new
    run; an error when the folder is something else or the run was started otherwise."""
    if not folder.path.exists():
        return None
    if not folder.is_run():
        if any(folder.path.iterdir()) and not folder.never_started():
            raise AutoKDError(
                f"'{folder.path}' exists and is not an autokd run; choose another --name or "
                "--runs-dir"
            )
        return None
    if not folder.storage:
        check_study_file(folder.study_db, writing=True)
    record = folder.read_run_record()
    stored = record.stored_identity()
    for key, value in config.identity().items():
        if stored.get(key) != value:
            raise AutoKDError(
                f"run '{folder.name}' was started with {key}={stored.get(key)!r}, this command "
                f"asks for {value!r}; use the same settings to continue it, or another --name"
            )
    return record


def _check_same_data(folder: RunFolder, record: RunRecord, data: DataBundle) -> None:
    """The data behind a continued run must be the same images the first trials saw."""
    if record.augment_policy not in (None, data.augment_policy):
        raise AutoKDError(
            f"run '{folder.name}' trains with --augment-policy {record.augment_policy}, this "
            f"command asks for {data.augment_policy}; leave the flag out to continue it, "
            "or start another --name"
        )
    if record.data_key is not None and record.data_key != data.key:
        raise AutoKDError(
            f"the data behind --data {data.name} changed since run '{folder.name}' started "
            f"(data key {record.data_key}, now {data.key}); start another --name"
        )


def check_run_inputs(config: RunConfig) -> None:
    """Every name and file the run needs, checked before anything is trained or written."""
    for flag, folder in (("--runs-dir", config.runs_dir), ("--reports-dir", config.reports_dir)):
        if Path(folder).exists() and not Path(folder).is_dir():
            raise AutoKDError(f"{flag} '{folder}' is a file, not a folder")
        if not _writable(Path(folder)):  # found now, not after the training
            raise AutoKDError(f"{flag} '{folder}' cannot be written (permissions)")
    get_dataset(config.data)
    check_target_usable(config.target)
    check_teacher_name(config.teacher)
    get_pruner(config.pruner)
    if config.teacher_weights is not None and not config.teacher_weights.is_file():
        raise AutoKDError(f"teacher weights file '{config.teacher_weights}' does not exist")


def _writable(folder: Path) -> bool:
    """Whether `folder` can be written, or made: its nearest existing ancestor can be written."""
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    return os.access(existing, os.W_OK | os.X_OK)


def one_process_only(config: RunConfig) -> str | None:
    """Why this run's trials cannot run in other processes, or None: an Optuna sampler object
    lives in this process, and so does what is registered in `__main__`."""
    if not isinstance(config.sampler, str):
        return "an Optuna sampler object samples in this process only"
    _, in_main = plugin_modules()
    if in_main:
        return (
            f"{', '.join(in_main)} is registered in __main__, which worker processes cannot "
            "import (register it in a module of its own)"
        )
    return None


def run(config: RunConfig, *, settings: Settings, progress: bool = True) -> SearchOutcome:
    """Run (or continue) the search `config` describes; write the run folder's tables and
    summary (the report is the caller's).

    This process prepares what every trial shares (data, teacher, teacher outputs: cached in
    `settings.cache_dir`, so the workers it starts find them there), records the run's settings
    in the study, then runs trials as worker 0 beside `workers - 1` `autokd worker` processes.
    """
    config = config.named()
    url = config.storage or RunFolder(config.run_dir).storage_url
    with optuna_quiet(), storage_writes_said(url):
        return _run(config, settings=settings, progress=progress)


def _run(config: RunConfig, *, settings: Settings, progress: bool) -> SearchOutcome:
    started = time.perf_counter()
    check_run_inputs(config)
    lock = settings.core_lock()
    execution = resolve_execution(config.device, config.precision, lock=lock)
    storage = open_storage(config.storage) if config.storage else None  # fails before writing
    folder = RunFolder(config.run_dir, storage=config.storage)
    if storage is not None:
        _mirror_storage_record(folder, storage)
    record = check_existing_run(folder, config)
    plan = plan_workers(
        config.workers,
        execution,
        budget=config.budget,
        pinned=":" in config.device,
        one_process=one_process_only(config),
        threads_override=settings.threads,
    )

    set_training_threads(threads_for(1, settings.threads))  # the teacher trains alone
    options, data_started = config.data_options, time.perf_counter()
    data = load_data(
        config.data,
        seed=config.seed,
        input_size=options.input_size,
        subset=options.subset,
        data_dir=options.data_dir,
        download=options.download,
        compact=record.data_compact if record is not None else None,
        augment_policy=(
            record.augment_policy_for(options.augment_policy) if record else options.augment_policy
        ),
        settings=settings,
    )
    data_seconds = time.perf_counter() - data_started
    check_space_size(config.space, data)
    check_space_within_limits(
        config.space, data, config.constraints, config.target, metrics=MetricsCache(settings)
    )
    if record is not None:
        _check_same_data(folder, record, data)
    teacher = prepare_teacher(
        config.teacher,
        data,
        weights=config.teacher_weights,
        epochs=config.teacher_epochs,
        seed=config.seed,
        pretrained=config.teacher_pretrained,
        progress=progress,
        execution=execution,
        max_minutes=config.teacher_max_minutes,
        settings=settings,
    )
    check_teacher_beats_chance(teacher, classes=data.classes, images=len(data.val_y))
    outputs_started = time.perf_counter()
    outputs, outputs_cached = teacher_outputs(teacher, data, settings=settings)
    outputs_seconds = time.perf_counter() - outputs_started
    if config.space.distill.uses_features and not outputs.feature_shapes:
        print(
            f"autokd: teacher '{config.teacher}' gives no feature maps (timm has no "
            "forward_intermediates for it): feature terms are off, the search keeps the "
            "logit terms",
            file=sys.stderr,
        )

    study, first_budget = _open_study(folder, config, record, data=data, storage=storage)
    _record_for_workers(study, folder, config, data, teacher, first_budget)
    progress_bar = _ProgressBar(study, config, enabled=progress)
    interrupted, terminated, finished, helpers = False, False, False, []
    search_started = time.perf_counter()
    set_training_threads(plan.threads)
    own = dataclasses.replace(execution, device=plan.device_of(0))
    data, outputs = place_on_device(data, outputs, own)
    try:
        if progress_bar.remaining:
            if progress and plan.workers > 1:
                progress_bar.write(f"autokd: {plan.reason}")
            helpers = start_local_workers(
                plan, storage_url=folder.storage_url, study_name=folder.study_name
            )
            objective = TrialObjective(
                config.trial_settings(),
                data,
                outputs,
                folder.weights_dir,
                own,
                metrics=MetricsCache(settings),
            )
            with lock.holding():  # no latency is timed while this process works
                run_trials(
                    study, objective, budget=config.budget, on_trial=progress_bar.update, lock=lock
                )
        finished = True
    except KeyboardInterrupt as stop:
        interrupted, terminated = True, isinstance(stop, Terminated)
    finally:  # the finished trials are written whatever stopped the search
        stopped = stop_local_workers(helpers, interrupt=not finished)  # stop them if we did
        failed_workers = sum(code not in (0, 130) for code in stopped)
        fail_abandoned(study)  # a trial a stopped worker could not close is not left RUNNING
        progress_bar.update(study, None)
        progress_bar.close()
        timings = {
            "data_load_s": round(data_seconds, 2),
            "teacher_s": round(teacher.seconds, 2),
            "teacher_outputs_s": round(outputs_seconds, 3),
            "teacher_outputs_cached": outputs_cached,
            "search_s": round(time.perf_counter() - search_started, 2),
            "trials_run": progress_bar.ran,
        }
        training = TrainingRecord(
            **execution.to_dict(),
            workers=plan.workers,
            threads_per_worker=plan.threads,
            workers_plan=plan.reason,
            failed_workers=failed_workers,
        )
        summary, report_path = _write_outputs(
            folder,
            config,
            study,
            data,
            teacher,
            timings,
            started=started,
            first_budget=first_budget,
            training=training,
        )
    return SearchOutcome(
        folder, summary, report_path, progress_bar.ran, interrupted, plan, study, terminated
    )


def _mirror_storage_record(folder: RunFolder, storage: Any) -> None:
    """A run in a shared storage may have been started on another machine: its record (the
    settings a continuation must match) comes from the study into the local run folder."""
    import optuna

    try:
        study = optuna.load_study(study_name=folder.study_name, storage=storage)
    except KeyError:
        return
    stored = study.user_attrs.get(RUN_ATTR)
    if stored and not folder.run_json.is_file():
        record = read_worker_record(stored, f"run '{folder.name}' in the storage")
        write_json(folder.run_json, record.run_json.to_dict())


def _open_study(
    folder: RunFolder,
    config: RunConfig,
    record: RunRecord | None,
    *,
    data: DataBundle,
    storage: Any,
) -> tuple[Any, int]:
    """Create or load the run's study and record the run; returns it and the run's first budget."""
    import optuna

    folder.path.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    created = (record.created if record else "") or now
    first_budget = (record.first_budget if record else None) or config.budget
    run_record = RunRecord(
        name=str(config.name),
        created=created,
        budget=config.budget,
        first_budget=first_budget,
        identity=config.identity(),
        data_key=data.key,
        data_compact=data.train_x.compact,
        augment_policy=data.augment_policy,
        storage=masked(config.storage) if config.storage else None,
        extra=record.extra if record else {},
    )
    write_json(folder.run_json, run_record.to_dict())
    if storage is None and not folder.study_db.exists():
        _create_study_file(folder)
    study = optuna.create_study(
        study_name=folder.study_name,
        storage=storage or open_storage(folder.storage_url),
        directions=list(DIRECTIONS),
        load_if_exists=True,
    )
    with warnings.catch_warnings():  # names the objectives in optuna-dashboard
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVE_NAMES))
    # Offset the seed by the trials already there, so a continued study does not replay them;
    # size NSGA-II's population by the first budget, so it stays the same when the run grows.
    study.sampler = make_sampler(
        config.sampler,
        seed=config.seed + len(study.trials),
        budget=first_budget,
        space=config.space,
        data=data,
    )
    return study, first_budget


def _create_study_file(folder: RunFolder) -> None:
    """A new run's study.db appears whole or not at all: Optuna creates its tables and the empty
    study in a hidden file of this process, then linked into place. A kill while the tables are
    made leaves a run that never started (the same command starts it afresh), not a study.db
    without a study (refused as damage, `check_study_file`). Of two processes starting the same
    run at once, the first to link wins and the other opens its study."""
    import optuna

    partial = folder.path / f".study.db.{os.getpid()}.tmp"
    partial.unlink(missing_ok=True)
    try:
        storage = open_storage(f"sqlite:///{partial.resolve()}")
        optuna.create_study(
            study_name=folder.study_name, storage=storage, directions=list(DIRECTIONS)
        )
        storage.engine.dispose()  # every connection closed before the file is linked
        with contextlib.suppress(FileExistsError):
            os.link(partial, folder.study_db)
    finally:
        partial.unlink(missing_ok=True)


def _record_for_workers(
    study: Any,
    folder: RunFolder,
    config: RunConfig,
    data: DataBundle,
    teacher: PreparedTeacher,
    first_budget: int,
) -> None:
    """Everything `autokd worker` needs to run this run's trials, in the study itself."""
    folder.weights_dir.mkdir(parents=True, exist_ok=True)
    study.set_user_attr(PARAMS_ATTR, param_declarations(config.space))  # what each column is
    record = WorkerRecord(
        run_json=folder.read_run_record(),
        budget=config.budget,
        sampler=config.sampler_name,
        seed=config.seed,
        first_budget=first_budget,
        epochs=config.epochs,
        batch_size=config.batch_size,
        space=_yaml_file(config.space.source, config.space.name),
        target=_yaml_file(config.target.source, config.target.name),
        data=data.identity(),
        teacher=teacher.identity(
            seed=config.seed,
            epochs=None if config.teacher_weights else config.teacher_epochs,
            pretrained=config.teacher_pretrained,
        ),
        weights_dir=str(folder.weights_dir.resolve()),
        constraints=config.constraints,
        pruner=config.pruner,
        precision=config.precision,
        latency=config.latency,
    )
    study.set_user_attr(RUN_ATTR, record.to_dict())


def _yaml_file(source: str, name: str) -> YamlFile:
    return YamlFile(name=name, text=Path(source).read_text(encoding="utf-8"))


def yaml_from_record(entry: YamlFile, cache_dir: Path) -> Path:
    """A space or target file recorded in the study, written where this machine can load it
    (same bytes, same digest)."""
    folder = cache_dir / "run_files" / stable_hash(entry.text)
    path = folder / f"{entry.name}.yaml"
    if not path.is_file():
        atomic_write(path, lambda tmp: tmp.write_text(entry.text, encoding="utf-8"))
    return path


def run_worker(
    storage_url: str,
    study_name: str,
    *,
    device: str = "auto",
    worker_index: int | None = None,
    weights_dir: Path | None = None,
    threads: int | None = None,
    progress: bool = True,
    settings: Settings,
) -> int:
    """`autokd worker`: join run `study_name` in `storage_url` and run its trials until its
    budget is met; returns how many this worker ran. The run's settings, data and teacher are
    read from the study (data and teacher prepared again, checked by their hashes). `threads`:
    the training threads the search that started this worker planned (None: every core)."""
    with optuna_quiet(), storage_writes_said(storage_url):
        storage = open_storage(storage_url)
        study = load_run_study(storage, study_name, storage_url)
        stored = study.user_attrs.get(RUN_ATTR)
        if stored is None:
            raise AutoKDError(
                f"study '{study_name}' was not made by autokd search (it records no run settings)"
            )
        record = read_worker_record(stored, f"run '{study_name}' in {masked(storage_url)}")
        lock = settings.core_lock()
        execution = resolve_execution(device, record.precision, lock=lock)
        set_training_threads(threads or threads_for(1, settings.threads))
        data = load_identified_data(record.data, settings=settings)
        teacher = load_identified_teacher(
            record.teacher, data, progress=progress, execution=execution, settings=settings
        )
        outputs, _ = teacher_outputs(teacher, data, settings=settings)
        data, outputs = place_on_device(data, outputs, execution)
        trial_settings = TrialSettings(
            space=load_space(yaml_from_record(record.space, settings.cache_dir)),
            target=load_target(yaml_from_record(record.target, settings.cache_dir)),
            epochs=record.epochs,
            batch_size=record.batch_size,
            seed=record.seed,
            constraints=record.constraints,
            pruner=record.pruner,
            latency=record.latency,
        )
        study.sampler = make_sampler(
            record.sampler,
            seed=worker_sampler_seed(record.seed, len(study.trials), worker_index),
            budget=record.first_budget,
            space=trial_settings.space,
            data=data,
        )
        weights = weights_dir or Path(record.weights_dir)
        objective = TrialObjective(
            trial_settings, data, outputs, weights, execution, metrics=MetricsCache(settings)
        )
        from tqdm.auto import tqdm

        with tqdm(desc=f"worker {study_name}", unit="trial", disable=not progress) as bar:
            return run_trials(  # the caller (`autokd worker`) holds the core lock
                study,
                objective,
                budget=record.budget,
                on_trial=lambda study, trial: (say_if_failed(trial), bar.update(1)),
                lock=lock,
            )


def say_if_failed(trial: Any) -> None:
    """One line on stderr (above any progress bar) for a trial that failed, the search going
    on: its number and reason."""
    from tqdm.auto import tqdm

    if trial is not None and trial.user_attrs.get(FAIL_ATTR):
        reason = trial.user_attrs[FAIL_ATTR]
        tqdm.write(f"autokd: trial {trial.number} failed: {printable(reason)}", file=sys.stderr)


class _ProgressBar:
    """The bar over this invocation's trials, every worker's, with the best accuracy and the
    front size so far. It re-reads the counted trials after each of this process's trials (the
    other workers' land in the study meanwhile)."""

    def __init__(self, study: Any, config: RunConfig, *, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.before = len(_counted(study))
        self.remaining = max(0, config.budget - self.before)
        self.ran = 0  # counted trials added by this invocation, all workers together
        self.bar = tqdm(
            total=self.remaining, desc=f"search {config.name}", unit="trial", disable=not enabled
        )

    def update(self, study: Any, trial: Any) -> None:
        say_if_failed(trial)
        counted = _counted(study)
        self.ran = len(counted) - self.before
        self.bar.update(self.ran - self.bar.n)
        values = [t.values for t in counted if t.values]
        if values:
            array = np.array(values, dtype=float)
            front = pareto_mask(array, list(DIRECTIONS))
            self.bar.set_postfix(best_acc=f"{array[:, 0].max():.3f}", front=int(front.sum()))

    def write(self, line: str) -> None:
        self.bar.write(line)

    def close(self) -> None:
        self.bar.close()


def _write_outputs(
    folder: RunFolder,
    config: RunConfig,
    study: Any,
    data: DataBundle,
    teacher: PreparedTeacher,
    timings: dict[str, Any],
    *,
    started: float,
    first_budget: int,
    training: TrainingRecord,
) -> tuple[RunSummary, Path]:
    """trials.csv, pareto.csv and summary.json (what `autokd report` needs, so it exists even
    if the report cannot be written); returns the summary and where the report goes."""
    frame = trials_frame(study)
    front = write_tables(folder, frame)
    folder.keep_weights_of(frame)
    timings = {"this_invocation_s": round(time.perf_counter() - started, 2), **timings}
    report_path = Path(config.reports_dir) / f"{config.name}.html"
    summary = dataclasses.replace(
        build_summary(config, data, teacher, frame, front, timings, study=study),
        first_budget=first_budget,
        training=training,
        report=str(report_path),
    )
    write_json(folder.summary_json, summary.to_dict())
    if config.storage:  # readers elsewhere (`--storage URL --name NAME`) find it in the study
        study.set_user_attr(SUMMARY_ATTR, summary.to_dict())
    return summary, report_path


def _counted(study: Any) -> list[Any]:
    """Trials that count towards the budget (`workers.counted_states`)."""
    return study.get_trials(deepcopy=False, states=counted_states())


def training_saved(complete: Any, rejected: Any, stopped: Any, epochs: int) -> dict[str, float]:
    """Seconds of training the limits and the stopper saved, at the pace of the fully trained
    students: a rejected student would have trained `epochs` epochs, a stopped one the epochs it
    did not reach."""
    per_epoch = float(complete["train_seconds"].mean()) / epochs
    rejected_s = len(rejected) * epochs * per_epoch
    stopped_s = int((epochs - stopped["epochs_trained"].astype(int)).sum()) * per_epoch
    return {
        "rejected_saved_s": round(rejected_s, 1),
        "stopped_saved_s": round(stopped_s, 1),
        "training_saved_s": round(rejected_s + stopped_s, 1),
    }


def build_summary(
    config: RunConfig,
    data: DataBundle,
    teacher: PreparedTeacher,
    frame: Any,
    front: Any,
    timings: dict[str, Any],
    *,
    study: Any,
) -> RunSummary:
    """Everything summary.json says about a run; the report reads it too."""
    complete = frame[frame["state"] == "COMPLETE"]
    target = config.target
    threads = target_threads(target)
    timings = dict(timings)
    rejected = frame[frame["rejected_by"].notna()]
    stopped = frame[frame["stopped_by"].notna()]
    if len(complete):
        timings["measure_s_total"] = round(float(complete["measure_seconds"].sum()), 2)
        timings["train_s_total"] = round(float(complete["train_seconds"].sum()), 2)
        timings["train_s_per_trial"] = round(float(complete["train_seconds"].mean()), 3)
        if "data_seconds" in complete:  # batches sliced from memory: a sliver of training
            timings["batch_data_s_total"] = round(float(complete["data_seconds"].sum()), 2)
        timings["metrics_cache_hits"] = int(complete["metrics_cached"].fillna(False).sum())
        timings.update(training_saved(complete, rejected, stopped, config.epochs))
    prediction = prediction_record(study, frame, target)
    return RunSummary(
        latency_prediction=prediction.to_dict() if prediction else None,
        name=str(config.name),
        budget=config.budget,
        trials={state.lower(): int(n) for state, n in frame["state"].value_counts().items()},
        objectives=[{"name": n, "direction": d} for n, d in OBJECTIVES],
        sampler=config.sampler_name,
        seed=config.seed,
        constraints=config.constraints.to_dict(),
        rejected=int(len(rejected)),
        epochs=config.epochs,
        pruner=config.pruner,
        stopped=int(len(stopped)),
        epochs_saved=int((config.epochs - stopped["epochs_trained"].astype(int)).sum()),
        batch_size=config.batch_size,
        space=SpaceRecord(
            config.space.name, config.space.source, config.space.digest, config.space.description
        ),
        teacher=from_mapping(TeacherRecord, {**teacher.summary(), "epochs": config.teacher_epochs}),
        data=from_mapping(DataRecord, data.summary()),
        target=TargetRecord(
            name=target.name,
            description=target.description,
            backend=target.backend,
            device=target.device,
            threads=threads,
            batch_size=target.batch_size,
            input_size=target.input_size or data.input_size,
            warmup=target.warmup,
            min_run_time=target.min_run_time,
            calibration_images=target.calibration_images,
            performance_hint=target.performance_hint,
            options=target.options.to_dict() if target.options is not None else None,
        ),
        # everything a latency depends on besides the architecture (compare checks it)
        latency_fingerprint=machine_fingerprint(target),
        latency_protocol=protocol_text(target),
        flops_convention=FLOPS_CONVENTION,
        environment=environment_info(),
        best_accuracy=float(complete["accuracy"].max()) if len(complete) else None,
        pareto_size=int(len(front)),
        timings=timings,
        updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
