"""autokd as a library: every command of the `autokd` CLI is a function here, and the CLI only
parses flags into these calls and prints what they return.

    import autokd

    run = autokd.search(budget=20, epochs=3)          # -> Run
    run.front                                         # the Pareto front as a DataFrame
    bundle = autokd.export(run, pick="knee", output="students/knee")
    result = autokd.train(bundle, epochs=30)          # -> TrainResult
    model = autokd.load_student(bundle)               # nn.Module: pixels in [0, 1] -> logits

Every call leaves the process as it found it (PyTorch's thread count, Optuna's verbosity, the
signal handlers: `runtime.state`), reads `AUTOKD_*` settings once at its start, and holds no
data, teacher or model after it returns except what it returns. Bad input raises
`autokd.AutoKDError` with a one-line message. The defaults are those of the CLI, defined once on
the config records (`study.config.RunConfig`, `workflows.config`). The public names are
`autokd.API`; `import autokd` imports this module when one of them is first used.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autokd.errors import AutoKDError
from autokd.records.attrs import DIRECTIONS, OBJECTIVE_NAMES
from autokd.records.folder import RunFolder
from autokd.records.results import ValidationResult
from autokd.study.config import DEFAULT_SPACE, DEFAULT_TARGET, SEARCH_DEFAULTS, RunConfig
from autokd.workflows.config import DEFAULT_FULL_EPOCHS, DEFAULT_TOP_K

_RUN = SEARCH_DEFAULTS  # every default of `search` is the CLI's: a RunConfig field default


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, `terminated`) stopped a search: the trials so far are written, and
    `run` is the run as it stands; the same call with its `name` continues it."""

    def __init__(self, run: Run, *, terminated: bool) -> None:
        super().__init__(f"search '{run.name}' interrupted; continue it with name='{run.name}'")
        self.run, self.terminated = run, terminated


@contextlib.contextmanager
def _library_call() -> Iterator[Any]:
    """What every API function does around its work: the `AUTOKD_*` settings read (once, here;
    passed down from here), the user's plug-ins imported, the process-wide state it changes put
    back afterwards. Yields the `Settings`."""
    from autokd.runtime.plugins import load_plugins
    from autokd.runtime.settings import Settings
    from autokd.runtime.state import process_state_kept

    settings = Settings.from_environment()
    load_plugins(settings.plugins)
    with process_state_kept():
        yield settings


# --------------------------------------------------------------------------------------------
# A run


class Run:
    """A search run: its folder, its Optuna study, its tables and its summary.

    `trials` and `front` are pandas DataFrames with the columns of trials.csv and pareto.csv
    (read from the study when first asked for); `study` is the `optuna.Study`; `summary` the
    typed `RunSummary`; `student(n)` trial n's trained student (only students on the front keep
    their weights).
    """

    def __init__(self, folder: RunFolder, *, study: Any = None, trials_run: int | None = None):
        self.folder = folder
        self._study = study
        self.trials_run = trials_run  # trials the call that returned this run ran (None: opened)

    name = property(lambda self: self.folder.name)
    path = property(lambda self: self.folder.path)

    @property
    def study(self) -> Any:
        if self._study is None:
            from autokd.records.folder import load_study

            self._study = load_study(self.folder)
        return self._study

    @functools.cached_property
    def summary(self) -> Any:
        """The run's `RunSummary` (summary.json)."""
        return self.folder.read_summary()

    @functools.cached_property
    def trials(self) -> Any:
        """Every trial: number, state, objectives, costs, is_pareto, parameters, extras."""
        from autokd.study.tables import trials_frame

        return trials_frame(self.study)

    @property
    def front(self) -> Any:
        """The complete trials on the Pareto front, fastest first (pareto.csv)."""
        trials = self.trials
        return trials[trials["is_pareto"]].sort_values("latency_ms").reset_index(drop=True)

    @property
    def report_path(self) -> Path:
        """Where the run's HTML report was last written."""
        report = self.summary.report
        return Path(report) if report else Path("reports") / f"{self.name}.html"

    @property
    def validation(self) -> ValidationResult | None:
        """What `autokd.validate` found, once it ran."""
        return self.folder.read_validation()

    def student(self, trial: int) -> Any:
        """Trial `trial`'s trained student (`nn.Module`, eval mode), from the run's weights."""
        from autokd.students import build_student
        from autokd.study.trial import TrialRecord
        from autokd.workflows.bundle import read_weights

        trials = self.study.get_trials(deepcopy=False)
        if not 0 <= trial < len(trials):
            last = len(trials) - 1
            raise AutoKDError(f"trial {trial} does not exist; the run has trials 0 to {last}")
        weights = self.folder.weights_path(trial)
        if not weights.is_file():
            raise AutoKDError(
                f"the weights of trial {trial} were not kept: only students on the front keep "
                f"theirs (trials {', '.join(str(n) for n in self.front['number'])})"
            )
        model = build_student(TrialRecord.from_attrs(trials[trial].user_attrs).student)
        model.load_state_dict(read_weights(weights))
        return model.eval()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def open_run(
    path_or_storage: str | Path,
    *,
    name: str | None = None,
    runs_dir: str | Path = _RUN.runs_dir,
) -> Run:
    """An existing run, to read, continue or export.

    Args:
        path_or_storage: a run folder (`runs/<name>`), or the database URL of a search run
            with `storage=` (then `name` names the run).
        name: the run's name in the database.
        runs_dir: where a database run's record is written (`<runs_dir>/<name>/`).
    """
    from autokd.records.folder import open_run as open_folder

    text = str(path_or_storage)
    with _library_call():
        if "://" in text:
            folder = open_folder(None, storage=text, name=name, runs_dir=Path(runs_dir))
        else:
            if name is not None:
                raise AutoKDError("name= names a run in a storage URL; a run folder has its own")
            folder = open_folder(text)
    return Run(folder)


def _run_of(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else open_run(run)


# --------------------------------------------------------------------------------------------
# The search


def search(
    *,
    data: str = _RUN.data,
    teacher: str | Sequence[str] = _RUN.teacher,
    space: Any = DEFAULT_SPACE,
    target: Any = DEFAULT_TARGET,
    budget: int = _RUN.budget,
    epochs: int = _RUN.epochs,
    sampler: Any = _RUN.sampler,
    pruner: str = _RUN.pruner,
    latency: str = _RUN.latency,
    workers: int | None = _RUN.workers,
    device: str = _RUN.device,
    precision: str = _RUN.precision,
    storage: str | None = _RUN.storage,
    name: str | None = _RUN.name,
    runs_dir: str | Path = _RUN.runs_dir,
    reports_dir: str | Path = _RUN.reports_dir,
    seed: int = _RUN.seed,
    batch_size: int = _RUN.batch_size,
    teacher_weights: str | Path | None = _RUN.teacher_weights,
    teacher_pretrained: bool = _RUN.teacher_pretrained,
    teacher_epochs: int = _RUN.teacher_epochs,
    teacher_max_minutes: float | None = _RUN.teacher_max_minutes,
    data_dir: str | Path | None = None,
    download: bool = False,
    subset: int | None = None,
    input_size: int | None = None,
    augment_policy: str = _RUN.data_options.augment_policy,
    max_latency_ms: float | None = None,
    max_flops: int | None = None,
    max_params: int | None = None,
    progress: bool = True,
) -> Run:
    """Search students and distillation settings; write the run folder and its HTML report.

    Each trial samples a student architecture and distillation settings from `space`, distils
    it briefly from the teacher's cached outputs, counts its FLOPs and times its latency on
    `target`; the study keeps the Pareto front of accuracy, latency and FLOPs.

    Args:
        data: data set: `digits`, `cifar10`, `cifar100`, `mnist`, `fashion-mnist` (read from
            `data_dir`), `folder:PATH` (class folders of images) or `npz:PATH`.
        teacher: any timm model name; several (a list, or `"resnet18,resnet34:0.5"`) make an
            ensemble whose logits are averaged with the weights.
        space: search space: a shipped name (`cnn`, `cnn-menu`, `mobile`: `list_spaces()`), a
            YAML path, or a `SearchSpace`.
        target: hardware target the latency is timed on: a shipped name (`cpu`, `cpu-1t`,
            `onnxruntime`, `cuda`: `list_targets()`), a YAML path, or a `Target`.
        budget: trials the study should hold; calling again with the same `name` continues up
            to it.
        epochs: training epochs per trial.
        sampler: `tpe`, `random`, `nsga2`, `nni-tpe`, `nni-evolution`, `nni-random`, or an
            Optuna sampler object (which samples in this process only: one worker).
        pruner: `mo-asha` stops students that cannot reach the front; `none` trains every
            trial `epochs`.
        latency: `measure` times every student; `predict` times the first ones, then only
            those that could reach the front, the others keeping a predicted latency
            (flagged `latency_predicted`, never on the front).
        workers: processes that run trials at once; None: one per physical core on the CPU,
            one per GPU on CUDA. Each CPU worker trains with one thread.
        device: where students and the teacher train: `auto`, `cpu`, `cuda`, `cuda:N`.
        precision: `mixed` (autocast on CUDA) or `fp32`.
        storage: a database URL for the study (PostgreSQL, MySQL, SQLite) that `autokd worker`
            processes elsewhere can join; None: the run folder's study.db.
        name: the run's name; None: `<data>-<target>-<date>-<time>`. An existing run of this
            name is continued (with the same settings).
        runs_dir: folder of run folders.
        reports_dir: folder of the HTML report.
        seed: seed of the data split, the teacher, the sampler and every trial's training.
        batch_size: batch size of each trial's training.
        teacher_weights: a checkpoint (state dict) of a teacher trained on this data: no
            teacher training.
        teacher_pretrained: fine-tune the teacher from timm's pretrained weights (a download).
        teacher_epochs: epochs to train the teacher when it is not cached.
        teacher_max_minutes: refuse a teacher whose training, estimated from timed steps
            before it starts, would take longer (None or 0: no bound).
        data_dir: where the torchvision data sets are (default: the cache folder's `data`).
        download: download a torchvision data set `data_dir` lacks.
        subset: search on a stratified subset of this many training images.
        input_size: resize images to this side (default: the data set's own).
        augment_policy: the random views the teacher trains on: `auto` (the data set's own;
            for a folder or npz, crops and flips for colour images, shifts for grey ones),
            `shift`, `crop-flip` or `none`. A continued run keeps its own under `auto`.
        max_latency_ms: a student slower than this on the target is rejected untrained.
        max_flops: a student with more FLOPs is rejected untrained.
        max_params: a student with more parameters is rejected untrained.
        progress: show progress bars.

    Returns:
        The `Run`: `front` and `trials` as DataFrames, `study`, `summary`, `report_path`.

    Raises:
        AutoKDError: bad input, explained in one line; nothing is written.
        SearchInterrupted: Ctrl-C or SIGTERM; what ran is written, `.run` holds it.
    """
    from autokd.data.augment import check_augment_policy
    from autokd.measure.targets import load_target
    from autokd.records.folder import check_run_name
    from autokd.records.run import Constraints, DataOptions
    from autokd.reporting import write_run_report
    from autokd.study import controller
    from autokd.study.latency_plan import check_latency_mode
    from autokd.study.samplers import check_sampler
    from autokd.study.space import load_space

    with _library_call() as settings:
        teachers = [teacher] if isinstance(teacher, str) else list(teacher)
        config = RunConfig(
            space=load_space(space),
            target=load_target(target),
            name=check_run_name(name) if name is not None else None,
            runs_dir=Path(runs_dir),
            reports_dir=Path(reports_dir),
            budget=_positive("budget", budget),
            data=data,
            teacher=",".join(teachers),
            teacher_weights=Path(teacher_weights) if teacher_weights else None,
            teacher_pretrained=teacher_pretrained,
            teacher_epochs=_positive("teacher_epochs", teacher_epochs),
            teacher_max_minutes=_minutes("teacher_max_minutes", teacher_max_minutes),
            epochs=_positive("epochs", epochs),
            batch_size=_positive("batch_size", batch_size),
            seed=seed,
            sampler=check_sampler(sampler),
            pruner=pruner,
            latency=check_latency_mode(latency),
            constraints=Constraints(max_latency_ms, max_flops, max_params),
            data_options=DataOptions(
                Path(data_dir) if data_dir else None,
                download,
                subset,
                input_size,
                augment_policy=check_augment_policy(augment_policy),
            ),
            workers=workers,
            device=device,
            precision=precision,
            storage=storage,
        )
        outcome = controller.run(config, settings=settings, progress=progress)
        # the summary first (written above), so a report that cannot be written loses nothing
        write_run_report(
            outcome.folder, study=outcome.study, summary=outcome.summary, output=outcome.report_path
        )
        run = Run(outcome.folder, study=outcome.study, trials_run=outcome.trials_run)
        if outcome.interrupted:
            raise SearchInterrupted(run, terminated=outcome.terminated)
        return run


def _minutes(name: str, value: Any) -> float | None:
    ok = value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf
    )
    if not ok:
        raise AutoKDError(f"{name} must be a number >= 0 or None, got {value!r}")
    return value


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AutoKDError(f"{name} must be a positive integer, got {value!r}")
    return value


def worker(
    *,
    storage: str,
    name: str,
    device: str = _RUN.device,
    weights_dir: str | Path | None = None,
    threads: int | None = None,
    index: int | None = None,
    progress: bool = True,
) -> int:
    """Join run `name` in the database `storage` (a search's `storage=`) and run its trials on
    this machine until its budget is met; returns how many this worker ran.

    Args:
        storage: the study database URL, as given to `search`.
        name: the run's name.
        device: where this worker trains: `auto`, `cpu`, `cuda`, `cuda:N`.
        weights_dir: where this machine sees the run's weights folder, if not at the path the
            run recorded (a shared folder).
        threads: training threads (default: every physical core, or `AUTOKD_THREADS`).
        index: this worker's number among those a search started (it offsets the sampler's
            seed); None takes the offset from the host and process id.
        progress: show a progress bar over the trials.
    """
    from autokd.study.controller import run_worker

    # From the start: a worker preparing its data and teacher is work on the cores, and no
    # latency may be timed beside it.
    with _library_call() as settings, settings.core_lock().holding():
        return run_worker(
            storage,
            name,
            device=device,
            worker_index=index,
            weights_dir=Path(weights_dir) if weights_dir else None,
            threads=threads,
            progress=progress,
            settings=settings,
        )


class Objective:
    """One autokd trial as an Optuna objective, for a study of your own:

        objective = autokd.objective(space="cnn", target="cpu")
        study = optuna.create_study(directions=objective.directions)
        study.optimize(objective, n_trials=20)

    Calling it samples a student and distillation settings with the trial, measures the
    student, distils it from the teacher's cached outputs and returns (accuracy, latency_ms,
    flops); the trial's user attributes hold what autokd records (`records.attrs`)."""

    directions = list(DIRECTIONS)
    metric_names = list(OBJECTIVE_NAMES)

    def __init__(self, trial_objective: Callable[[Any], tuple[float, float, float]]) -> None:
        self._objective = trial_objective

    def __call__(self, trial: Any) -> tuple[float, float, float]:
        from autokd.runtime.cores import set_training_threads, threads_kept

        with threads_kept():  # one training thread, as a search's worker; yours afterwards
            set_training_threads(1)
            return self._objective(trial)


def objective(
    *,
    data: str = _RUN.data,
    teacher: str | Sequence[str] = _RUN.teacher,
    space: Any = DEFAULT_SPACE,
    target: Any = DEFAULT_TARGET,
    epochs: int = _RUN.epochs,
    batch_size: int = _RUN.batch_size,
    pruner: str = _RUN.pruner,
    seed: int = _RUN.seed,
    teacher_weights: str | Path | None = None,
    teacher_epochs: int = _RUN.teacher_epochs,
    augment_policy: str = _RUN.data_options.augment_policy,
    device: str = _RUN.device,
    precision: str = _RUN.precision,
    weights_dir: str | Path | None = None,
    progress: bool = True,
) -> Objective:
    """The trial as a callable for your own `study.optimize`: the data and the teacher (and
    its outputs) are prepared now, once, and cached; each call is one autokd trial.

    Args:
        data: data set, as for `search`.
        teacher: teacher name or names, as for `search`.
        space: search space name, path or `SearchSpace`.
        target: hardware target name, path or `Target`.
        epochs: training epochs per trial.
        batch_size: batch size of each trial's training.
        pruner: `mo-asha` (stops students that cannot reach the front of your study) or `none`.
        seed: seed of the data split, the teacher and each trial's training (plus its number).
        teacher_weights: a checkpoint of a teacher trained on this data.
        teacher_epochs: epochs to train the teacher when it is not cached.
        augment_policy: the random views the teacher trains on, as for `search`.
        device: where the students train: `auto`, `cpu`, `cuda`, `cuda:N`.
        precision: `mixed` (autocast on CUDA) or `fp32`.
        weights_dir: keep each trained student's weights there (`trial-<n>.pt`); None keeps none.
        progress: show the teacher's training bar.

    Returns:
        An `Objective`: call it with an Optuna trial; `directions` and `metric_names` are the
        study's three objectives (accuracy, latency_ms, flops).
    """
    from autokd.data import load_data
    from autokd.distill.training import place_on_device
    from autokd.measure.latency import check_target_usable
    from autokd.measure.metrics import MetricsCache
    from autokd.measure.targets import load_target
    from autokd.records.run import Constraints
    from autokd.runtime.device import resolve_execution
    from autokd.study.config import TrialSettings
    from autokd.study.objective import TrialObjective
    from autokd.study.pruners import get_pruner
    from autokd.study.space import check_space_size, load_space
    from autokd.teachers import prepare_teacher
    from autokd.teachers.outputs import teacher_outputs

    with _library_call() as settings:
        trial_settings = TrialSettings(
            space=load_space(space),
            target=load_target(target),
            epochs=_positive("epochs", epochs),
            batch_size=_positive("batch_size", batch_size),
            seed=seed,
            constraints=Constraints(),
            pruner=get_pruner(pruner).name,
        )
        check_target_usable(trial_settings.target)
        execution = resolve_execution(device, precision, lock=settings.core_lock())
        prepared = load_data(data, seed=seed, augment_policy=augment_policy, settings=settings)
        check_space_size(trial_settings.space, prepared)
        names = [teacher] if isinstance(teacher, str) else list(teacher)
        prepared_teacher = prepare_teacher(
            ",".join(names),
            prepared,
            weights=Path(teacher_weights) if teacher_weights else None,
            epochs=teacher_epochs,
            seed=seed,
            progress=progress,
            execution=execution,
            settings=settings,
        )
        outputs, _ = teacher_outputs(prepared_teacher, prepared, settings=settings)
        prepared, outputs = place_on_device(prepared, outputs, execution)
        weights = Path(weights_dir) if weights_dir else None
        metrics = MetricsCache(settings)
        return Objective(
            TrialObjective(trial_settings, prepared, outputs, weights, execution, metrics=metrics)
        )


# --------------------------------------------------------------------------------------------
# After the search


def export(
    run: Run | str | Path,
    *,
    output: str | Path,
    pick: str = "knee",
    trial: int | None = None,
    max_latency_ms: float | None = None,
    force: bool = False,
) -> Any:
    """Export one student of `run` as a bundle folder (student.yaml, weights, ONNX,
    TorchScript, each checked against PyTorch) and return it (`workflows.bundle.Bundle`).

    Args:
        run: a `Run` or a run folder.
        output: the bundle folder to write (refused when it is not empty, unless `force`).
        pick: which student of the front: `knee` (where more latency stops buying much
            accuracy), `best-accuracy` or `fastest`.
        trial: export this trial instead of a pick.
        max_latency_ms: pick only among students at most this slow.
        force: replace a non-empty `output` (never the run itself).
    """
    from autokd.workflows.bundle import load_bundle
    from autokd.workflows.export import export_run

    with _library_call() as settings:
        result = export_run(
            _run_of(run).folder,
            Path(output),
            trial=trial,
            pick=pick,
            max_latency_ms=max_latency_ms,
            force=force,
            settings=settings,
        )
        return load_bundle(result.path)


def _bundle_of(bundle: Any) -> Any:
    from autokd.workflows.bundle import Bundle, load_bundle

    return bundle if isinstance(bundle, Bundle) else load_bundle(Path(bundle))


def train(
    bundle: Any,
    *,
    epochs: int = DEFAULT_FULL_EPOCHS,
    kd: bool = True,
    augment: bool = False,
    all_images: bool = False,
    seed: int = 0,
    output: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    teacher_weights: str | Path | None = None,
    device: str = _RUN.device,
    precision: str = _RUN.precision,
    progress: bool = True,
    qat: bool = False,
    qat_epochs: int | None = None,
) -> Any:
    """Train a bundle's student from scratch with the search's distillation settings and the
    same engine; write result.json and student.pt and return the `TrainResult`.

    Args:
        bundle: a `Bundle` (from `export`) or a bundle folder.
        epochs: training epochs.
        kd: distil (False: labels alone, the baseline of the KD gain).
        augment: train on the data set's random views with the teacher run live on each.
        all_images: train on every training image when the run searched on a subset.
        seed: seed of the initial weights and the batch order.
        output: output folder (default `<bundle>/train-<kd|nokd>[-aug][-all]-e<epochs>-s<seed>`).
        resume: continue an interrupted training in `output`.
        force: start a non-empty `output` over.
        teacher_weights: the teacher's checkpoint, when autokd's cache no longer has it.
        device: where it trains: `auto`, `cpu`, `cuda`, `cuda:N`.
        precision: `mixed` (autocast on CUDA) or `fp32`.
        progress: show a progress bar over the epochs.
        qat: then fine-tune it with fake quantization (a bundle of a target that quantizes)
            and record the deployed accuracy after both (`result.qat`).
        qat_epochs: epochs of that fine-tuning (default: a fifth of `epochs`, at least 1).
    """
    from autokd.runtime.device import resolve_execution
    from autokd.workflows.train import train_bundle

    if resume and force:
        raise AutoKDError("resume continues a training and force starts it over: pick one")
    with _library_call() as settings:
        return train_bundle(
            _bundle_of(bundle),
            epochs=_positive("epochs", epochs),
            use_kd=kd,
            augment=augment,
            all_images=all_images,
            seed=seed,
            output=Path(output) if output else None,
            resume=resume,
            force=force,
            teacher_weights=Path(teacher_weights) if teacher_weights else None,
            progress=progress,
            execution=resolve_execution(device, precision, lock=settings.core_lock()),
            qat=qat,
            qat_epochs=None if qat_epochs is None else _positive("qat_epochs", qat_epochs),
            settings=settings,
        )


def load_student(bundle: Any, *, weights: str | Path | None = None) -> Any:
    """A bundle's trained student with its preprocessing, as one `nn.Module` in eval mode: it
    takes images with pixels in [0, 1] (N, C, H, W, any size), resizes and normalises them as the
    search did, and returns logits.

    Args:
        bundle: a `Bundle` (from `export`) or a bundle folder.
        weights: a `student.pt` written by `train` (default: the weights trained during the
            search).
    """
    from autokd.workflows.bundle import load_student as load

    with _library_call():
        return load(_bundle_of(bundle), weights=Path(weights) if weights else None)


def validate(
    run: Run | str | Path,
    *,
    top_k: int = DEFAULT_TOP_K,
    epochs: int = DEFAULT_FULL_EPOCHS,
    seed: int = 0,
    teacher_weights: str | Path | None = None,
    augment: bool = False,
    device: str = _RUN.device,
    precision: str = _RUN.precision,
    workers: int | None = None,
    reports_dir: str | Path = _RUN.reports_dir,
    progress: bool = True,
) -> ValidationResult:
    """Retrain students of the front longer, with and without distillation: does the search's
    brief training rank them as longer training does (Kendall tau), and does distillation help?
    Stored in the run (validation.json) and shown in its report, rewritten in `reports_dir`.

    Args:
        run: a `Run` or a run folder.
        top_k: students to retrain, spread evenly along the front by latency.
        epochs: epochs of each retraining.
        seed: seed of every retraining.
        teacher_weights: the teacher's checkpoint, when autokd's cache no longer has it.
        augment: retrain on the data set's random views with the teacher run live on each.
        device: where they train: `auto`, `cpu`, `cuda`, `cuda:N`.
        precision: `mixed` (autocast on CUDA) or `fp32`.
        workers: processes that retrain at once (None: one per physical core, each with one
            training thread; 1 trains in this process with every core).
        reports_dir: where the run's report is rewritten (`<reports_dir>/<run name>.html`).
        progress: show progress bars.
    """
    from autokd.reporting import write_run_report
    from autokd.runtime.device import resolve_execution
    from autokd.workflows.validate import validate_run

    with _library_call() as settings:
        folder = _run_of(run).folder
        result = validate_run(
            folder,
            top_k=_positive("top_k", top_k),
            epochs=_positive("epochs", epochs),
            seed=seed,
            teacher_weights=Path(teacher_weights) if teacher_weights else None,
            augment=augment,
            progress=progress,
            execution=resolve_execution(device, precision, lock=settings.core_lock()),
            workers=workers,
            settings=settings,
        )
        # where the caller says: a path recorded in a run folder (which may come from anyone)
        # never decides where autokd writes
        write_run_report(folder, reports_dir=Path(reports_dir))
        return result


def remeasure(
    run: Run | str | Path,
    *,
    every: bool = False,
    reports_dir: str | Path = _RUN.reports_dir,
    progress: bool = True,
) -> Any:
    """Time the doubtful latencies of the run's front again (contended, noisy, timed in too few
    blocks), with the run's target and protocol; run it on a quiet machine. The new timings
    are stored in the study and read over the first ones by every table, the report (rewritten
    in `reports_dir`) and `export`; the trusted ones are cached for later runs.

    Args:
        run: a `Run` or a run folder.
        every: time every student of the front again, not only the doubtful ones.
        reports_dir: where the run's report is rewritten (`<reports_dir>/<run name>.html`).
        progress: show a progress bar.

    Returns:
        `workflows.remeasure.RemeasureResult`: each student timed again, first and new latency.
    """
    from autokd.reporting import write_run_report
    from autokd.workflows.remeasure import remeasure_run

    with _library_call() as settings:
        folder = _run_of(run).folder
        result = remeasure_run(folder, every=every, settings=settings, progress=progress)
        write_run_report(folder, reports_dir=Path(reports_dir))
        return result


def report(
    run: Run | str | Path,
    *,
    output: str | Path | None = None,
    reports_dir: str | Path = _RUN.reports_dir,
) -> Path:
    """Render the run's HTML report from its study; returns its path.

    Args:
        run: a `Run` or a run folder.
        output: the HTML file (default `<reports_dir>/<run name>.html`).
        reports_dir: the folder of the report when `output` is not given.
    """
    from autokd.reporting import write_run_report

    with _library_call():
        folder = _run_of(run).folder
        return write_run_report(
            folder, reports_dir=Path(reports_dir), output=Path(output) if output else None
        )


@dataclass(frozen=True)
class Comparison:
    """What `compare` wrote: the page, and the plain data it drew (`reporting.compare`)."""

    path: Path
    data: Any


def compare(
    runs: Sequence[Run | str | Path],
    *,
    output: str | Path = Path("reports/compare.html"),
    allow_mixed_targets: bool = False,
) -> Comparison:
    """Overlay the fronts of several runs on one page, each run's hypervolume against one
    shared reference point, with a table of what differs between them.

    Args:
        runs: two or more `Run`s or run folders.
        output: the HTML file to write.
        allow_mixed_targets: draw runs whose latencies were timed on different targets or
            machines (labelled: their latencies are not comparable); refused otherwise.
    """
    from autokd.reporting import write_compare_report

    with _library_call():
        folders = [_run_of(run).folder for run in runs]
        path, data = write_compare_report(
            folders, Path(output), allow_mixed_targets=allow_mixed_targets
        )
        return Comparison(path, data)


# --------------------------------------------------------------------------------------------
# What there is


@dataclass(frozen=True)
class TargetInfo:
    name: str
    description: str
    backend: str
    device: str
    usable: bool  # whether this machine can time on it
    why_not: str = ""


def list_targets() -> list[TargetInfo]:
    """The shipped hardware targets, and whether this machine can measure on each."""
    from autokd.measure.latency import target_usable
    from autokd.measure.targets import load_target
    from autokd.records.yamlfiles import TARGETS_FOLDER, shipped_names

    with _library_call():
        infos = []
        for name in shipped_names(TARGETS_FOLDER):
            target = load_target(name)
            usable, why = target_usable(target)
            infos.append(
                TargetInfo(name, target.description, target.backend, target.device, usable, why)
            )
        return infos


@dataclass(frozen=True)
class SpaceInfo:
    name: str
    family: str
    description: str
    source: str


def list_spaces() -> list[SpaceInfo]:
    """The shipped search spaces: name, student family, one line on each."""
    from autokd.records.yamlfiles import SPACES_FOLDER, shipped_names
    from autokd.study.space import load_space

    with _library_call():
        spaces = [load_space(name) for name in shipped_names(SPACES_FOLDER)]
        return [SpaceInfo(s.name, s.family, s.description, s.source) for s in spaces]


def measure_stability(
    *,
    target: Any = DEFAULT_TARGET,
    space: Any = DEFAULT_SPACE,
    data: str = _RUN.data,
    n: int = 20,
    seed: int = 0,
    data_dir: str | Path | None = None,
    input_size: int | None = None,
) -> Any:
    """Do latencies repeat on this machine? Architectures sampled from `space` are timed on
    `target` twice, each pass in a fresh process without the cache.

    Args:
        target: hardware target name, path or `Target`.
        space: search space name, path or `SearchSpace` the architectures come from.
        data: the data set whose shape (channels, classes, size) the students take.
        n: architectures to time.
        seed: seed of the sampled architectures.
        data_dir: where the torchvision data sets are.
        input_size: resize images to this side (default: the data set's own).

    Returns:
        A `StabilityResult`: both passes' medians, the share within +-10%, Spearman's rank
        correlation.
    """
    from autokd.data import load_data
    from autokd.measure.latency import check_target_usable
    from autokd.measure.stability import check_stability
    from autokd.measure.targets import load_target
    from autokd.study.space import load_space, sample_architectures

    with _library_call() as settings:
        resolved_space, resolved_target = load_space(space), load_target(target)
        check_target_usable(resolved_target)
        prepared = load_data(
            data,
            seed=seed,
            input_size=input_size,
            data_dir=Path(data_dir) if data_dir else None,
            settings=settings,
        )
        configs = sample_architectures(
            resolved_space, prepared.input_shape, prepared.classes, _positive("n", n), seed
        )
        del prepared
        return check_stability(configs, resolved_target)
