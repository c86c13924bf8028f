"""The controller: for each trial, sample -> measure -> distil -> record, in one Optuna study.

The study has three objectives: maximise validation accuracy, minimise latency on the target, and
minimise FLOPs. Latency is what the student costs on the hardware it was measured on; FLOPs are
what it costs elsewhere (another device, batch size or runtime), and they are free of timing
noise. A student is on the front when no other is at least as good on all three and better on one.

Everything a trial needs that does not change between trials is prepared once, before the first:
the data tensors, the teacher (trained once and cached), and the teacher's logits and feature maps
on every training image (cached), so no trial runs the teacher. FLOPs and latency are cached per
architecture across runs (`hardware.MetricsCache`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autokd.cache import atomic_write, cache_dir, write_json
from autokd.codec import from_mapping
from autokd.config import (
    PRUNER_NAMES,
    PRUNER_OF_EARLIER_RUNS,
    Constraints,
    RunConfig,
    TrainConfig,
    TrialSettings,
    check_choice,
    load_space,
)
from autokd.cores import core_lock, set_training_threads, threads_for
from autokd.data import DataBundle, get_dataset, load_data
from autokd.device import Execution, resolve_execution
from autokd.environment import environment_info
from autokd.errors import (
    AutoKDError,
    Terminated,
    TrialFailed,
)
from autokd.hardware import (
    FLOPS_CONVENTION,
    ArchitectureMetrics,
    MetricsCache,
    machine_fingerprint,
)
from autokd.latency import check_target_usable, target_threads
from autokd.limits import (
    check_fits,
    check_space_size,
    inference_bytes,
    student_size,
    training_bytes,
)
from autokd.pareto import pareto_mask
from autokd.records import (
    OBJECTIVES,
    RunFolder,
    TrialRecord,
    trials_frame,
    weights_file,
    write_tables,
)
from autokd.samplers import make_sampler
from autokd.space import PARAMS_ATTR, param_declarations, sample_candidate
from autokd.stopping import EPOCHS_ATTR, PRUNERS, STOPPED_ATTR, Stopped
from autokd.storage import RUN_ATTR, SUMMARY_ATTR, check_study_file, masked, open_storage
from autokd.students import StudentSpec
from autokd.summary import (
    DataIdentity,
    DataRecord,
    RunSummary,
    SpaceRecord,
    TargetRecord,
    TeacherIdentity,
    TeacherRecord,
    TrainingRecord,
)
from autokd.targets import load_target
from autokd.teacher import (
    PreparedTeacher,
    TeacherOutputs,
    check_teacher_name,
    prepare_teacher,
    teacher_outputs,
)
from autokd.training import (
    load_identified_data,
    load_identified_teacher,
    place_on_device,
    train_student,
    training_failure,
)
from autokd.workers import (
    FAIL_ATTR,
    WorkerPlan,
    counted_states,
    fail_abandoned,
    plan_workers,
    run_trials,
    start_local_workers,
    stop_local_workers,
    worker_sampler_seed,
)
from autokd.yamlfiles import stable_hash

# Identity keys a run records since they were added, and what a run before them did.
IDENTITY_BEFORE_KEYS = {"pruner": PRUNER_OF_EARLIER_RUNS}
LATENCY_PROTOCOL = (
    "median and IQR over timed blocks of torch.utils.benchmark blocked_autorange "
    "(min_run_time {min_run_time} s) after {warmup} warm-up calls; batch {batch_size}, "
    "{threads} thread(s), eval mode, inference_mode"
)


@dataclass(frozen=True)
class SearchOutcome:
    folder: RunFolder
    summary: RunSummary
    report_path: Path
    trials_run: int  # trials this process ran (a continued study already had some)
    interrupted: bool
    plan: WorkerPlan
    terminated: bool = False  # interrupted by SIGTERM rather than Ctrl-C


def check_existing_run(folder: RunFolder, config: RunConfig) -> bool:
    """True when `folder` is a run this command may continue; an error when it may not."""
    if not folder.path.exists():
        return False
    if not folder.is_run():
        if any(folder.path.iterdir()) and not folder.never_started():
            raise AutoKDError(
                f"'{folder.path}' exists and is not an autokd run; choose another --name or "
                "--runs-dir"
            )
        return False
    if not folder.storage:
        check_study_file(folder.study_db, writing=True)
    stored = {**IDENTITY_BEFORE_KEYS, **folder.read_json(folder.run_json).get("identity", {})}
    wanted = config.identity()
    for key, value in wanted.items():
        if stored.get(key) != value:
            raise AutoKDError(
                f"run '{folder.name}' was started with {key}={stored.get(key)!r}, this command "
                f"asks for {value!r}; use the same settings to continue it, or another --name"
            )
    return True


def _stored_compact(folder: RunFolder) -> bool:
    """How a continued run stored its images (runs from before 8-bit storage: float32)."""
    return bool(folder.read_json(folder.run_json).get("data_compact", False))


def _check_same_data(folder: RunFolder, data: DataBundle) -> None:
    """The data behind a continued run must be the same images the first trials saw."""
    started_with = folder.read_json(folder.run_json).get("data_key")
    if started_with is not None and started_with != data.key:
        raise AutoKDError(
            f"the data behind --data {data.name} changed since run '{folder.name}' started "
            f"(data key {started_with}, now {data.key}); start another --name"
        )


def check_run_inputs(config: RunConfig) -> None:
    """Every name and file the run needs, checked before anything is trained or written."""
    for flag, folder in (("--runs-dir", config.runs_dir), ("--reports-dir", config.reports_dir)):
        if Path(folder).exists() and not Path(folder).is_dir():
            raise AutoKDError(f"{flag} '{folder}' is a file, not a folder")
    get_dataset(config.data)
    check_target_usable(config.target)
    check_teacher_name(config.teacher)
    check_choice("pruner", config.pruner, PRUNER_NAMES)
    if config.teacher_weights is not None and not config.teacher_weights.is_file():
        raise AutoKDError(f"teacher weights file '{config.teacher_weights}' does not exist")


class _Trials:
    """The objective Optuna calls: one candidate sampled, measured, distilled and recorded."""

    def __init__(
        self,
        settings: TrialSettings,
        data: DataBundle,
        outputs: TeacherOutputs,
        weights_dir: Path,
        execution: Execution,
    ) -> None:
        self.config, self.data, self.outputs = settings, data, outputs
        self.weights_dir, self.execution = weights_dir, execution
        self.metrics = MetricsCache()

    def __call__(self, trial: Any) -> tuple[float, float, float]:
        config = self.config
        candidate = sample_candidate(trial, config.space, self.data)
        if not self.outputs.feature_shapes:  # a teacher without feature maps (run() said so)
            candidate = dataclasses.replace(candidate, kd=candidate.kd.logits_only())
        trial.set_user_attr("architecture", candidate.student.describe())
        trial.set_user_attr("arch_hash", candidate.student.arch_hash())
        for key, value in TrialRecord(candidate.student, candidate.kd).attrs().items():
            trial.set_user_attr(key, value)
        self._check_fits(candidate.student)  # a failed trial still names its student
        # 1) measure first: it needs the architecture only, and is cached per architecture
        metrics = self.metrics.measure(candidate.student, config.target)
        for key, value in metrics.as_attrs().items():
            trial.set_user_attr(key, value)
        if config.constraints.active:
            self._reject_if_over_limits(trial, metrics)
        # 2) distil briefly from the cached teacher outputs, judged after every epoch
        schedule = TrainConfig(
            epochs=config.epochs,
            lr=candidate.lr,
            batch_size=config.batch_size,
            seed=config.seed + trial.number,
        )
        latency, flops = metrics.latency.median_ms, float(metrics.flops)
        judge = PRUNERS[config.pruner](trial, config.epochs, latency, flops)
        try:
            student, result = train_student(
                candidate.student,
                candidate.kd,
                schedule,
                self.data,
                self.outputs,
                callbacks=[judge],
                execution=self.execution,
            )
        except Stopped as stop:
            raise _stopped_trial(trial, stop, judge.seconds) from None
        trial.set_user_attr("diverged", result.diverged)
        failure = training_failure(result, self.data.val_y)
        if failure is not None:  # no result: recorded FAIL with the reason, never on the front
            trial.set_user_attr("diverged", True)
            raise TrialFailed(failure)
        # 3) keep the weights: a student that ends on the front is exported without retraining
        state = {key: tensor.cpu() for key, tensor in student.state_dict().items()}
        path = weights_file(self.weights_dir, trial.number)
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        trial.set_user_attr("train_seconds", round(result.seconds, 3))
        trial.set_user_attr("data_seconds", round(result.data_seconds, 4))
        trial.set_user_attr("best_val_accuracy", result.best_val_accuracy)
        record = TrialRecord(candidate.student, candidate.kd, schedule)
        trial.set_user_attr("train", record.attrs()["train"])
        trial.set_user_attr(EPOCHS_ATTR, result.epochs_run)
        return result.val_accuracy, latency, flops

    def _check_fits(self, student: StudentSpec) -> None:
        """Fail the trial, before allocating anything, when the student cannot fit in memory
        for timing or for training (`autokd.limits`)."""
        size, target = student_size(student), self.config.target
        check_fits(
            inference_bytes(size, target.batch_size),
            target.device,
            f"timing it at batch {target.batch_size} on target '{target.name}'",
        )
        check_fits(
            training_bytes(size, self.config.batch_size),
            self.execution.device,
            f"training it at batch {self.config.batch_size}",
        )

    def _reject_if_over_limits(self, trial: Any, metrics: ArchitectureMetrics) -> None:
        """Record how far the student is from each limit; one over a limit ends here, untrained,
        as a pruned trial that keeps its measured metrics."""
        import optuna

        values = {
            "latency_ms": metrics.latency.median_ms,
            "flops": metrics.flops,
            "params": metrics.params,
        }
        constraints = self.config.constraints
        broken = []
        for (metric, _, limit), violation in zip(
            constraints.active, constraints.violations(values), strict=True
        ):
            trial.set_constraint(metric, violation)  # TPE learns from these
            if violation > 0:
                broken.append(f"{metric} {values[metric]:.4g} > {limit:.4g}")
        if broken:
            trial.set_user_attr("rejected_by", "; ".join(broken))
            raise optuna.TrialPruned(f"over the limits: {'; '.join(broken)}")


def _stopped_trial(trial: Any, stop: Stopped, seconds: float) -> Exception:
    """A student the stopper ended, recorded: its last accuracy as an attribute (a pruned trial
    has no objective values; its costs were recorded before training), how far it trained and
    why it stopped. Returns the TrialPruned that makes it PRUNED."""
    import optuna

    trial.set_user_attr("accuracy", stop.accuracy)
    trial.set_user_attr(EPOCHS_ATTR, stop.epoch)
    trial.set_user_attr("train_seconds", round(seconds, 3))
    trial.set_user_attr(STOPPED_ATTR, stop.reason)
    return optuna.TrialPruned(stop.reason)


def run(config: RunConfig, *, progress: bool = True) -> SearchOutcome:
    """Run (or continue) the search `config` describes and write the run folder and report.

    This process prepares what every trial shares (data, teacher, teacher outputs: cached on
    disk, so the workers it starts find them there), records the run's settings in the study,
    then runs trials as worker 0 beside `workers - 1` `autokd worker` processes.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    check_run_inputs(config)
    execution = resolve_execution(config.device, config.precision)
    storage = open_storage(config.storage) if config.storage else None  # fails before writing
    folder = RunFolder(config.run_dir, storage=config.storage)
    if storage is not None:
        _mirror_storage_record(folder, storage)
    continuing = check_existing_run(folder, config)
    plan = plan_workers(
        config.workers, execution, budget=config.budget, pinned=":" in config.device
    )

    set_training_threads(threads_for(1))  # the teacher trains alone, on every physical core
    options, data_started = config.data_options, time.perf_counter()
    data = load_data(
        config.data,
        seed=config.seed,
        input_size=options.input_size,
        subset=options.subset,
        data_dir=options.data_dir,
        download=options.download,
        compact=_stored_compact(folder) if continuing else None,
    )
    data_seconds = time.perf_counter() - data_started
    check_space_size(config.space, data)
    if continuing:
        _check_same_data(folder, data)
    teacher = prepare_teacher(
        config.teacher,
        data,
        weights=config.teacher_weights,
        epochs=config.teacher_epochs,
        seed=config.seed,
        pretrained=config.teacher_pretrained,
        progress=progress,
        execution=execution,
    )
    outputs_started = time.perf_counter()
    outputs, outputs_cached = teacher_outputs(teacher, data)
    outputs_seconds = time.perf_counter() - outputs_started
    if config.space.distill.uses_features and not outputs.feature_shapes:
        print(
            f"autokd: teacher '{config.teacher}' gives no feature maps (timm has no "
            "forward_intermediates for it): feature terms are off, the search keeps the "
            "logit terms",
            file=sys.stderr,
        )

    study, first_budget = _open_study(folder, config, continuing, data=data, storage=storage)
    _record_for_workers(study, folder, config, data, teacher, first_budget)
    progress_bar = _ProgressBar(study, config, enabled=progress)
    interrupted, terminated, finished, helpers = False, False, False, []
    search_started = time.perf_counter()
    set_training_threads(plan.threads)
    own = Execution(plan.device_of(0), execution.precision)
    data, outputs = place_on_device(data, outputs, own)
    try:
        if progress_bar.remaining:
            if progress and plan.workers > 1:
                progress_bar.write(f"autokd: {plan.reason}")
            helpers = start_local_workers(
                plan, storage_url=folder.storage_url, study_name=folder.study_name
            )
            with core_lock().holding():  # no latency is timed while this process works
                run_trials(
                    study,
                    _Trials(config.trial_settings(), data, outputs, folder.weights_dir, own),
                    budget=config.budget,
                    on_trial=progress_bar.update,
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
        training = {
            **execution.to_dict(),
            "workers": plan.workers,
            "threads_per_worker": plan.threads,
            "workers_plan": plan.reason,
            "failed_workers": failed_workers,
        }
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
        folder, summary, report_path, progress_bar.ran, interrupted, plan, terminated
    )


def _mirror_storage_record(folder: RunFolder, storage: Any) -> None:
    """A run in a shared storage may have been started on another machine: its record (the
    settings a continuation must match) comes from the study into the local run folder."""
    import optuna

    try:
        study = optuna.load_study(study_name=folder.study_name, storage=storage)
    except KeyError:
        return
    record = study.user_attrs.get(RUN_ATTR)
    if record and not folder.run_json.is_file():
        write_json(folder.run_json, record["run_json"])


def _open_study(
    folder: RunFolder, config: RunConfig, continuing: bool, *, data: DataBundle, storage: Any
) -> tuple[Any, int]:
    """Create or load the run's study and record the run; returns it and the run's first budget."""
    import optuna

    folder.path.mkdir(parents=True, exist_ok=True)
    record = folder.read_json(folder.run_json) if continuing else {}
    created = record.get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds")
    first_budget = int(record.get("first_budget", config.budget))
    write_json(
        folder.run_json,
        {
            "name": config.name,
            "created": created,
            "budget": config.budget,
            "first_budget": first_budget,
            "data_key": data.key,
            "data_compact": data.train_x.compact,
            "storage": masked(config.storage) if config.storage else None,
            "identity": config.identity(),
        },
    )
    study = optuna.create_study(
        study_name=folder.study_name,
        storage=storage or open_storage(folder.storage_url),
        directions=[direction for _, direction in OBJECTIVES],
        load_if_exists=True,
    )
    with warnings.catch_warnings():  # names the objectives in optuna-dashboard
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name for name, _ in OBJECTIVES])
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
    study.set_user_attr(
        RUN_ATTR,
        {
            "run_json": folder.read_json(folder.run_json),
            "budget": config.budget,
            "sampler": config.sampler,
            "seed": config.seed,
            "first_budget": first_budget,
            "epochs": config.epochs,
            "pruner": config.pruner,
            "batch_size": config.batch_size,
            "constraints": config.constraints.to_dict(),
            "space": _yaml_file(config.space.source, config.space.name),
            "target": _yaml_file(config.target.source, config.target.name),
            "data": data_identity(data).to_dict(),
            "teacher": {
                **teacher.summary(),
                "epochs": None if config.teacher_weights else config.teacher_epochs,
                "seed": config.seed,
                "pretrained": config.teacher_pretrained,
            },
            "weights_dir": str(folder.weights_dir.resolve()),
            "precision": config.precision,
        },
    )


def _yaml_file(source: str, name: str) -> dict[str, str]:
    return {"name": name, "text": Path(source).read_text(encoding="utf-8")}


def _yaml_from_record(entry: dict[str, str]) -> Path:
    """A space or target file recorded in the study, written where this machine can load it
    (same bytes, same digest)."""
    folder = cache_dir() / "run_files" / stable_hash(entry["text"])
    path = folder / f"{entry['name']}.yaml"
    if not path.is_file():
        atomic_write(path, lambda tmp: tmp.write_text(entry["text"], encoding="utf-8"))
    return path


def data_identity(data: DataBundle) -> DataIdentity:
    """What identifies a data set: enough to prepare it again anywhere, and its key to check."""
    options = data.options or {}
    return DataIdentity(
        name=data.name,
        seed=options.get("seed", 0),
        input_size=data.input_size,
        key=data.key,
        subset=options.get("subset"),
        data_dir=options.get("data_dir"),
        compact=data.train_x.compact,
    )


def run_worker(
    storage_url: str,
    study_name: str,
    *,
    device: str = "auto",
    worker_index: int | None = None,
    weights_dir: Path | None = None,
    progress: bool = True,
) -> int:
    """`autokd worker`: join run `study_name` in `storage_url` and run its trials until its
    budget is met; returns how many this worker ran. The run's settings, data and teacher are
    read from the study (data and teacher prepared again, checked by their hashes)."""
    import optuna

    from autokd.storage import load_run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url)
    study = load_run_study(storage, study_name, storage_url)
    record = study.user_attrs.get(RUN_ATTR)
    if record is None:
        raise AutoKDError(
            f"study '{study_name}' was not made by autokd search (it records no run settings)"
        )
    execution = resolve_execution(device, record.get("precision", "mixed"))
    set_training_threads(threads_for(1))
    data = load_identified_data(DataIdentity.from_dict(record["data"]))
    teacher = load_identified_teacher(
        TeacherIdentity.from_dict(record["teacher"]),
        data,
        progress=progress,
    )
    outputs, _ = teacher_outputs(teacher, data)
    data, outputs = place_on_device(data, outputs, execution)
    settings = TrialSettings(
        space=load_space(_yaml_from_record(record["space"])),
        target=load_target(_yaml_from_record(record["target"])),
        epochs=record["epochs"],
        batch_size=record["batch_size"],
        seed=record["seed"],
        constraints=Constraints(**record["constraints"]),
        pruner=record.get("pruner", PRUNER_OF_EARLIER_RUNS),
    )
    study.sampler = make_sampler(
        record["sampler"],
        seed=worker_sampler_seed(record["seed"], len(study.trials), worker_index),
        budget=record["first_budget"],
        space=settings.space,
        data=data,
    )
    weights = weights_dir or Path(record["weights_dir"])
    from tqdm.auto import tqdm

    with tqdm(desc=f"worker {study_name}", unit="trial", disable=not progress) as bar:
        return run_trials(  # the caller (`autokd worker`) holds the core lock
            study,
            _Trials(settings, data, outputs, weights, execution),
            budget=record["budget"],
            on_trial=lambda study, trial: (say_if_failed(trial), bar.update(1)),
        )


def say_if_failed(trial: Any) -> None:
    """One line on stderr (above any progress bar) for a trial that failed, the search going
    on: its number and reason."""
    from tqdm.auto import tqdm

    if trial is not None and trial.user_attrs.get(FAIL_ATTR):
        reason = trial.user_attrs[FAIL_ATTR]
        tqdm.write(f"autokd: trial {trial.number} failed: {reason}", file=sys.stderr)


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
            front = pareto_mask(array, [d for _, d in OBJECTIVES])
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
    training: dict[str, Any],
) -> tuple[RunSummary, Path]:
    """trials.csv, pareto.csv, summary.json, then the report (the summary first: it is what
    `autokd report` needs, and it must exist even if the report cannot be written)."""
    from autokd.report import write_run_report

    frame = trials_frame(study)
    front = write_tables(folder, frame)
    folder.keep_weights_of(frame)
    timings = {"this_invocation_s": round(time.perf_counter() - started, 2), **timings}
    report_path = Path(config.reports_dir) / f"{config.name}.html"
    summary = dataclasses.replace(
        build_summary(config, data, teacher, frame, front, timings),
        first_budget=first_budget,
        training=TrainingRecord(**training),
        report=str(report_path),
    )
    write_json(folder.summary_json, summary.to_dict())
    if config.storage:  # readers elsewhere (`--storage URL --name NAME`) find it in the study
        study.set_user_attr(SUMMARY_ATTR, summary.to_dict())
    write_run_report(folder, study=study, summary=summary, output=report_path)
    return summary, report_path


def _counted(study: Any) -> list[Any]:
    """Trials that count towards the budget (`workers.counted_states`)."""
    return study.get_trials(deepcopy=False, states=counted_states())


def build_summary(
    config: RunConfig,
    data: DataBundle,
    teacher: PreparedTeacher,
    frame: Any,
    front: Any,
    timings: dict[str, Any],
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
        # what the rejected students would have cost to train, at the mean of the trained ones
        timings["training_saved_s"] = round(
            len(rejected) * float(complete["train_seconds"].mean()), 1
        )
    return RunSummary(
        name=config.name,
        budget=config.budget,
        trials={state.lower(): int(n) for state, n in frame["state"].value_counts().items()},
        objectives=[{"name": n, "direction": d} for n, d in OBJECTIVES],
        sampler=config.sampler,
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
        ),
        # everything a latency depends on besides the architecture (compare checks it)
        latency_fingerprint=machine_fingerprint(target),
        latency_protocol=LATENCY_PROTOCOL.format(
            min_run_time=target.min_run_time,
            warmup=target.warmup,
            batch_size=target.batch_size,
            threads=threads,
        ),
        flops_convention=FLOPS_CONVENTION,
        environment=environment_info(),
        best_accuracy=float(complete["accuracy"].max()) if len(complete) else None,
        pareto_size=int(len(front)),
        timings=timings,
        updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
