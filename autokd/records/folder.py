"""A run folder: its layout, where its study lives, and opening a run to read it.

runs/<name>/
    study.db         the Optuna study (SQLite): the source of truth, continued by a rerun
    weights/         trial-<n>.pt: trained weights of the students on the front (others deleted)
    run.json         the settings a rerun must match to continue the study (`RunRecord`)
    trials.csv       one row per trial (`study.tables.trials_frame`)
    pareto.csv       the Pareto-optimal rows of trials.csv, fastest first
    summary.json     budget, teacher, data, target, environment, timings, front size
    validation.json  what `autokd validate` found, once it ran (`ValidationResult`)
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any, TypeVar

from autokd.errors import AutoKDError
from autokd.records.attrs import RUN_ATTR, SUMMARY_ATTR
from autokd.records.cache import write_json
from autokd.records.codec import Codable, RecordError
from autokd.records.results import ValidationResult
from autokd.records.run import RunRecord, WorkerRecord
from autokd.records.summary import DataIdentity, RunSummary, TeacherIdentity

Record = TypeVar("Record", bound=Codable)
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
        """The run's name; in a study.db written before runs named their study, the one study
        it holds (`STUDY_NAME`), so that older runs still open and continue."""
        if self.storage:
            return self.name
        return _only_study_in(self.study_db) or self.name

    def weights_path(self, trial_number: int) -> Path:
        return weights_file(self.weights_dir, trial_number)

    def keep_weights_of(self, frame: Any) -> None:
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
            leftover = entry.name.startswith(".") and ".tmp" in entry.name  # and its -journal
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
        identity = self.read_run_record().identity
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
            augment_policy=data.augment_policy,
        )

    def read_summary(self) -> RunSummary:
        """summary.json, its shape checked: a key that readers need missing or of the wrong
        type (an edited or truncated file) is one line saying how to rewrite it."""
        return self._read(self.summary_json, RunSummary)

    def read_run_record(self) -> RunRecord:
        """run.json, its shape checked like the summary's."""
        return self._read(self.run_json, RunRecord)

    def read_validation(self) -> ValidationResult | None:
        """validation.json, or None before `autokd validate` ran."""
        if not self.validation_json.is_file():
            return None
        return self._read(self.validation_json, ValidationResult)

    def _read(self, path: Path, kind: type[Record]) -> Record:
        try:
            return kind.from_dict(self.read_json(path))
        except RecordError as err:
            raise AutoKDError(
                f"{path} {err.problem} '{err.key}' (edited or damaged?); run the search "
                f"command again with --name {self.name} to rewrite it"
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
    from autokd.records.storage import load_run_study, open_storage

    check_run_name(name)
    study = load_run_study(open_storage(storage), name, storage)
    stored, summary = study.user_attrs.get(RUN_ATTR), study.user_attrs.get(SUMMARY_ATTR)
    if stored is None or summary is None:
        raise AutoKDError(
            f"run '{name}' in the storage has no summary yet: its search has not written one "
            "(still running, or interrupted before the first trial ended)"
        )
    record = read_worker_record(stored, f"run '{name}' in {masked_url(storage)}")
    folder = RunFolder(Path(runs_dir) / name, storage=storage, weights_dir=Path(record.weights_dir))
    if folder.study_db.is_file():  # a run of the same name with its own study: not this one
        raise AutoKDError(
            f"'{folder.path}' holds a run with its own study.db; pass --runs-dir with another "
            "folder for the storage run's record"
        )
    write_json(folder.run_json, record.run_json.to_dict())
    write_json(folder.summary_json, summary)
    return folder


def read_worker_record(stored: Any, where: str) -> WorkerRecord:
    """The study's worker record, its shape checked: a missing key is one line naming it."""
    try:
        return WorkerRecord.from_dict(stored)
    except RecordError as err:
        raise AutoKDError(f"{where}: its run record {err.problem} '{err.key}'") from None


def masked_url(url: str) -> str:
    from autokd.records.storage import masked

    return masked(url)


def find_run(run: str | Path) -> RunFolder:
    """A run folder given by its path; it must hold a study."""
    folder = RunFolder(Path(run))
    if not folder.path.is_dir():
        raise AutoKDError(f"run folder '{run}' does not exist")
    if not folder.is_run():
        raise AutoKDError(f"'{run}' is not an autokd run folder (it has no run.json and study.db)")
    from autokd.records.storage import check_study_file

    check_study_file(folder.study_db, writing=False)
    return folder


def _only_study_in(study_db: Path) -> str | None:
    """The name of the only study in an SQLite study file (read without Optuna: the name is
    needed before the study is opened), or None: no file, no study, or several."""
    import sqlite3

    if not study_db.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{study_db}?mode=ro", uri=True)) as db:
            names = [row[0] for row in db.execute("SELECT study_name FROM studies")]
    except sqlite3.Error:
        return None
    return names[0] if len(names) == 1 else None


def load_study(folder: RunFolder) -> Any:
    """The run's Optuna study, from its study.db or its --storage."""
    import optuna

    from autokd.records.storage import load_run_study, open_storage

    if folder.storage:
        return load_run_study(open_storage(folder.storage), folder.name, folder.storage)
    try:
        return optuna.load_study(study_name=folder.study_name, storage=folder.storage_url)
    except KeyError:
        raise AutoKDError(f"'{folder.study_db}' holds no autokd study") from None
    except Exception as err:  # noqa: BLE001 - SQLAlchemy and Optuna raise many types here
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AutoKDError(f"'{folder.study_db}' cannot be read as a study ({first_line})") from None
