"""What a run folder holds and how its tables are built from the Optuna study.

runs/<name>/
    study.db       the Optuna study (SQLite): the source of truth, continued by a rerun
    weights/       trial-<n>.pt: trained weights of the students on the front (others deleted)
    run.json       the settings a rerun must match to continue the study
    trials.csv     one row per trial (see `trials_frame`)
    pareto.csv     the Pareto-optimal rows of trials.csv, fastest first
    summary.json   budget, teacher, data, target, environment, timings, front size
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from autokd.cache import atomic_write
from autokd.codec import RecordError
from autokd.config import KDConfig, TrainConfig
from autokd.errors import AutoKDError
from autokd.pareto import pareto_mask
from autokd.space import PARAMS_ATTR, legacy_declarations
from autokd.students import StudentSpec, student_from_dict
from autokd.summary import DataIdentity, RunSummary, TeacherIdentity

STUDY_NAME = "autokd"
# The study's objectives, in Optuna's order: accuracy against the two costs of a student, its
# latency on the target and its FLOPs (what it costs on hardware that was not measured).
OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("accuracy", "maximize"),
    ("latency_ms", "minimize"),
    ("flops", "minimize"),
)
HEAD_COLUMNS = [
    "number",
    "state",
    "accuracy",
    "latency_ms",
    "latency_iqr_ms",
    "flops",
    "params",
    "is_pareto",
]
ATTR_COLUMNS = ["latency_iqr_ms", "params"]  # recorded as user attributes, not objectives
EXTRA_COLUMNS = [
    "architecture",
    "latency_noisy",
    "latency_contended",
    "train_seconds",
    "data_seconds",
    "measure_seconds",
    "metrics_cached",
    "diverged",
    "rejected_by",
    "stopped_by",
    "epochs_trained",
    "fail_reason",
]
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME_LENGTH = 128


class RunFolder:
    """Paths inside one run folder, and where its study lives: the folder's own `study.db`, or
    (`storage`) a database given by `--storage`, where the study is named after the run."""

    def __init__(
        self, path: Path, *, storage: str | None = None, weights_dir: Path | None = None
    ) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.storage = storage  # a --storage URL (with its password: never print it)
        self._weights_dir = weights_dir

    study_db = property(lambda self: self.path / "study.db")
    run_json = property(lambda self: self.path / "run.json")
    trials_csv = property(lambda self: self.path / "trials.csv")
    pareto_csv = property(lambda self: self.path / "pareto.csv")
    summary_json = property(lambda self: self.path / "summary.json")
    validation_json = property(lambda self: self.path / "validation.json")

    @property
    def weights_dir(self) -> Path:
        """trial-<n>.pt files; a --storage run's workers elsewhere need it shared (README)."""
        return self._weights_dir or self.path / "weights"

    @property
    def study_name(self) -> str:
        return self.name if self.storage else STUDY_NAME

    def weights_path(self, trial_number: int) -> Path:
        return weights_file(self.weights_dir, trial_number)

    def keep_weights_of(self, frame: pd.DataFrame) -> None:
        """Delete the weights of complete trials off the front. A dominated trial stays
        dominated as trials are added, so what is deleted is never needed again; trials still
        running (another worker's) are not in the frame as complete and are left alone."""
        dominated = frame[(frame["state"] == "COMPLETE") & ~frame["is_pareto"]]["number"]
        for number in dominated:
            self.weights_path(int(number)).unlink(missing_ok=True)

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{self.study_db.resolve()}"

    def never_started(self) -> bool:
        """A run stopped (killed) before its study existed: it holds its run.json, perhaps an
        empty weights folder and a temporary file, nothing else. Nothing of it is worth keeping,
        so the same command starts it again instead of refusing the folder."""
        if self.storage is not None or not self.run_json.is_file():
            return False
        for entry in self.path.iterdir():
            leftover = entry.name.startswith(".") and entry.name.endswith(".tmp")
            empty_weights = (
                entry == self.weights_dir and entry.is_dir() and not any(entry.iterdir())
            )
            if entry != self.run_json and not leftover and not empty_weights:
                return False
        return True

    def is_run(self) -> bool:
        return self.run_json.is_file() and (self.storage is not None or self.study_db.is_file())

    def teacher_identity(self) -> TeacherIdentity:
        """What identifies the run's teacher: enough to find it again, and its weights' digest."""
        summary = self.read_summary()
        identity = self.read_json(self.run_json).get("identity", {})
        teacher = summary.teacher
        return TeacherIdentity(
            name=teacher.name,
            weights_digest=teacher.weights_digest,
            seed=summary.seed,
            accuracy=teacher.accuracy,
            checkpoint=teacher.checkpoint,
            epochs=teacher.epochs,
            pretrained=bool(identity.get("teacher_pretrained", False)),
        )

    def data_identity(self) -> DataIdentity:
        """What identifies the run's data: enough to prepare it again, and its key to check."""
        summary = self.read_summary()
        data = summary.data
        return DataIdentity(
            name=data.name,
            seed=summary.seed,
            input_size=data.input_size,
            key=data.key,
            subset=data.subset,
            data_dir=data.data_dir,
            compact=data.compact,
        )

    def read_summary(self) -> RunSummary:
        """summary.json, its shape checked: a key that readers need missing or of the wrong
        type (an edited or truncated file) is one line saying how to rewrite it."""
        try:
            return RunSummary.from_dict(self.read_json(self.summary_json))
        except RecordError as err:
            raise AutoKDError(
                f"{self.summary_json} {err.problem} '{err.key}' (edited or damaged?); run the "
                f"search command again with --name {self.name} to rewrite it"
            ) from None

    def read_json(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise AutoKDError(f"run '{self.path}' has no {path.name}") from None
        except json.JSONDecodeError as err:
            raise AutoKDError(
                f"{path} is not valid JSON ({err.msg} at line {err.lineno})"
            ) from None
        if not isinstance(data, dict):
            raise AutoKDError(f"{path} must hold a JSON object")
        return data


@dataclass(frozen=True)
class TrialRecord:
    """What one trial trained, as its user attributes hold it: written by the search (the
    student and distillation when sampled, the schedule once trained), read back by export,
    validate, the report and the tests' fake run."""

    student: StudentSpec
    kd: KDConfig
    train: TrainConfig | None = None  # None until trained (a rejected or failed trial)

    def attrs(self) -> dict[str, Any]:
        attrs = {"student": self.student.to_dict(), "kd": self.kd.to_dict()}
        return attrs | ({"train": self.train.to_dict()} if self.train else {})

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialRecord:
        """A trial's record; one written before a setting existed reads with its default."""
        train = attrs.get("train")
        return cls(
            student=student_from_dict(attrs["student"]),
            kd=KDConfig.from_dict(attrs["kd"]),
            train=TrainConfig(**train) if train else None,
        )


def weights_file(weights_dir: Path, trial_number: int) -> Path:
    """Where a trial's trained weights go: every worker writes them here, export reads them."""
    return weights_dir / f"trial-{trial_number}.pt"


def check_run_name(name: str) -> str:
    """A run name becomes a folder and a study name: one plain file name, never a path."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        shown = ascii(name)[1:-1]  # a control character shows as \n, never breaks the line
        raise AutoKDError(
            f"run name '{shown}' must start with a letter or digit and hold only letters, "
            f"digits, '.', '_' and '-' (at most {MAX_NAME_LENGTH} characters)"
        )
    return name


def open_run(
    run: str | Path | None,
    *,
    storage: str | None = None,
    name: str | None = None,
    runs_dir: Path = Path("runs"),
) -> RunFolder:
    """The run a command reads: a run folder (`run`), or run `name` in `--storage` URL. A storage
    run's record and summary live in its study; they are written into `runs_dir/<name>/` (made
    if missing), so every reader works on it as on any run folder."""
    if storage is None:
        if run is None:
            raise AutoKDError("give a run folder, or --storage URL and --name NAME")
        return find_run(run)
    if run is not None or name is None:
        raise AutoKDError("with --storage, name the run with --name NAME instead of a folder")
    from autokd.cache import write_json
    from autokd.storage import RUN_ATTR, SUMMARY_ATTR, load_run_study, open_storage

    check_run_name(name)
    study = load_run_study(open_storage(storage), name, storage)
    record, summary = study.user_attrs.get(RUN_ATTR), study.user_attrs.get(SUMMARY_ATTR)
    if record is None or summary is None:
        raise AutoKDError(
            f"run '{name}' in the storage has no summary yet: its search has not written one "
            "(still running, or interrupted before the first trial ended)"
        )
    folder = RunFolder(
        Path(runs_dir) / name, storage=storage, weights_dir=Path(record["weights_dir"])
    )
    if folder.study_db.is_file():  # a run of the same name with its own study: not this one
        raise AutoKDError(
            f"'{folder.path}' holds a run with its own study.db; pass --runs-dir with another "
            "folder for the storage run's record"
        )
    write_json(folder.run_json, record["run_json"])
    write_json(folder.summary_json, summary)
    return folder


def find_run(run: str | Path) -> RunFolder:
    """A run folder given by its path; it must hold a study."""
    folder = RunFolder(Path(run))
    if not folder.path.is_dir():
        raise AutoKDError(f"run folder '{run}' does not exist")
    if not folder.is_run():
        raise AutoKDError(f"'{run}' is not an autokd run folder (it has no run.json and study.db)")
    from autokd.storage import check_study_file

    check_study_file(folder.study_db, writing=False)
    return folder


def load_study(folder: RunFolder) -> Any:
    import optuna

    from autokd.storage import load_run_study, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if folder.storage:
        return load_run_study(open_storage(folder.storage), folder.name, folder.storage)
    try:
        return optuna.load_study(study_name=STUDY_NAME, storage=folder.storage_url)
    except KeyError:
        raise AutoKDError(f"'{folder.study_db}' holds no autokd study") from None
    except Exception as err:  # noqa: BLE001 - SQLAlchemy and Optuna raise many types here
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AutoKDError(f"'{folder.study_db}' cannot be read as a study ({first_line})") from None


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
    if "latency_ms" in attrs and "flops" in attrs:
        return float(attrs["latency_ms"]), float(attrs["flops"])
    return None


def trials_frame(study: Any) -> pd.DataFrame:
    """One row per trial: number, state, objectives, metrics, is_pareto, parameters, extras."""
    declared = declared_params(study)
    sampled = {name for trial in study.get_trials(deepcopy=False) for name in trial.params}
    names = list(declared) + sorted(sampled - set(declared))
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if attrs.get("surplus"):  # closed unrun by a worker that lost the race for the last slot
            continue
        # A trial rejected by the constraints has no objective values, only its measurements.
        values = trial.values or [attrs.get(name) for name, _ in OBJECTIVES]
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        row.update({name: value for (name, _), value in zip(OBJECTIVES, values, strict=True)})
        row.update({column: attrs.get(column) for column in ATTR_COLUMNS})
        row["is_pareto"] = False
        row.update({name: trial.params.get(name) for name in names})
        row.update({column: attrs.get(column) for column in EXTRA_COLUMNS})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*HEAD_COLUMNS, *names, *EXTRA_COLUMNS])
    frame[["flops", "params"]] = frame[["flops", "params"]].astype("Int64")
    complete = frame["state"] == "COMPLETE"
    if complete.any():
        objective_values = frame.loc[complete, [n for n, _ in OBJECTIVES]].to_numpy(float)
        frame.loc[complete, "is_pareto"] = pareto_mask(objective_values, [d for _, d in OBJECTIVES])
    frame["is_pareto"] = frame["is_pareto"].astype(bool)
    # Drop parameter columns no trial sampled (a stage count the space never reached), and keep
    # integer parameters integer where some trials lack them (fewer stages).
    frame = frame.drop(columns=[n for n in names if frame[n].isna().all()])
    for column in frame.columns.intersection(names):
        if declared.get(column, {}).get("type") == "int":
            frame[column] = frame[column].astype("Int64")
    return frame


def write_tables(folder: RunFolder, frame: pd.DataFrame) -> pd.DataFrame:
    """Write trials.csv and pareto.csv; returns the Pareto rows, fastest first."""
    front = frame[frame["is_pareto"]].sort_values("latency_ms")
    atomic_write(folder.trials_csv, lambda tmp: frame.to_csv(tmp, index=False))
    atomic_write(folder.pareto_csv, lambda tmp: front.to_csv(tmp, index=False))
    return front
