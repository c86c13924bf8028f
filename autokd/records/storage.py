"""Where a run's study lives: its run folder's SQLite file, or any database Optuna supports.

`--storage URL` puts the study in a shared database (PostgreSQL, MySQL, a SQLite file), so that
`autokd worker` processes on other machines can join it. The study also carries everything a
worker needs to run trials (`RUN_ATTR`: settings, search space and target files, data and
teacher identities) and, once written, the run's summary (`SUMMARY_ATTR`), so that `report`,
`export` and `validate` work from the storage as from a run folder.

A password in a URL is never printed or written: `masked()` replaces it, and every error
message is scrubbed of it before it is shown. Worker processes on this machine receive the URL
through the environment (`AUTOKD_STORAGE`), never on a command line that `ps` would show.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autokd.errors import AutoKDError

HEARTBEAT_SECONDS = 10  # a running trial's worker records a heartbeat this often
GRACE_SECONDS = 60  # a trial without a heartbeat for this long is failed (its worker died)
CREATE_ATTEMPTS = 3  # opening a new database that another process is creating at the same time


def _parsed(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise AutoKDError(
            "--storage: not a database URL (expected e.g. postgresql://user:password@host/db, "
            "mysql://..., sqlite:///path/study.db)"
        ) from None


def masked(url: str) -> str:
    """The URL with its password replaced by ***: the only form autokd prints or writes."""
    try:
        return _parsed(url).render_as_string(hide_password=True)
    except AutoKDError:
        return "<unparseable URL>"


def scrub(text: str, url: str) -> str:
    """`text` without the URL's password, wherever a driver's message may have copied it."""
    try:
        password = _parsed(url).password
    except AutoKDError:
        password = None
    return text.replace(str(password), "***") if password else text


def with_driver(url: str) -> str:
    """`postgresql://` means psycopg 3 (the `postgres` extra) unless a driver is named."""
    parsed = _parsed(url)
    if parsed.drivername == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise AutoKDError(
                "--storage postgresql://... needs the psycopg driver: "
                "pip install 'autokd[postgres]'"
            ) from None
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def open_storage(url: str) -> Any:
    """An Optuna RDB storage on `url`, connected and checked now: one line on any failure.

    Heartbeats let a trial whose worker died (on any machine) be failed after `GRACE_SECONDS`
    instead of staying RUNNING forever; a SQLite file waits for its lock instead of failing.
    """
    import optuna

    full = with_driver(url)
    backend = _parsed(full).get_backend_name()
    connect_args: dict[str, Any] = {"timeout": 60} if backend == "sqlite" else {}
    if backend == "postgresql":
        connect_args = {"connect_timeout": 10}
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        full,
                        engine_kwargs={"connect_args": connect_args, "pool_pre_ping": True},
                        heartbeat_interval=HEARTBEAT_SECONDS,
                        grace_period=GRACE_SECONDS,
                    )
            except Exception as err:  # noqa: BLE001 - re-raised below unless a creation race
                if attempt + 1 == CREATE_ATTEMPTS or not _created_meanwhile(err):
                    raise
                time.sleep(0.2 * (attempt + 1))
    except ImportError as err:
        raise AutoKDError(
            f"--storage {masked(url)}: the database driver is not installed ({err.name or err})"
        ) from None
    except Exception as err:  # noqa: BLE001 - SQLAlchemy and the drivers raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AutoKDError(
            f"--storage {masked(url)}: cannot open the database ({scrub(first, url)})"
        ) from None


SQLITE_HEADER = b"SQLite format 3\x00"


DISK_FULL_WORDS = ("disk is full", "no space left", "could not extend file")  # SQLite, PostgreSQL


@contextlib.contextmanager
def storage_writes_said(url: str) -> Iterator[None]:
    """A study storage that refuses a write mid-run (Optuna's `StorageInternalError`, its
    driver's reason inside) ends the command in one line naming the storage: the SQLite file,
    or the masked URL. A full disk is the OSError it is (exit 1), anything else an AutoKDError;
    what was already recorded stays, and the run continues on the next invocation."""
    import optuna

    try:
        yield
    except optuna.exceptions.StorageInternalError as err:
        cause = err.__cause__ or err.__context__ or err
        reason = scrub(_first_line(cause), url)
        where = _parsed(url).database if url.startswith("sqlite") else masked(url)
        if any(words in reason.lower() for words in DISK_FULL_WORDS):
            raise OSError(errno.ENOSPC, "the study storage is full: no space left", where) from None
        raise AutoKDError(f"the study storage {where} refused a write ({reason})") from None


def _first_line(err: BaseException) -> str:
    """A driver's error in one line: SQLAlchemy's own first line, without its SQL and links."""
    orig = getattr(err, "orig", None)  # the driver's exception inside SQLAlchemy's
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def check_study_file(path: Path, *, writing: bool) -> None:
    """A run folder's study.db must be an Optuna SQLite database that autokd can read (and
    write, to continue the run), checked read-only before anything opens it: Optuna's storage
    writes its tables into any file it opens, so a damaged file would be changed. The file is
    never repaired or replaced; the message says what to do."""
    kept = "it is left as it is"
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as err:
        raise AutoKDError(f"'{path}' cannot be read ({err.strerror}); {kept}") from None
    if header != SQLITE_HEADER:
        raise AutoKDError(
            f"'{path}' is not a SQLite database (empty or damaged); {kept}: restore it, or "
            "move the run folder away to start the run afresh"
        )
    try:
        read_only = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(read_only, uri=True)) as db:
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as err:
        verdict, tables = str(err), set()
    if verdict != "ok":
        raise AutoKDError(
            f"'{path}' is a damaged SQLite database ({verdict}); {kept}: restore it, or move "
            "the run folder away to start the run afresh"
        )
    if not {"studies", "trials"} <= tables:
        raise AutoKDError(f"'{path}' holds no Optuna study; {kept}")
    if writing and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise AutoKDError(
            f"'{path}' is read-only (a run continues by writing to it and beside it); make it "
            "and its folder writable, or copy the run folder to a writable place"
        )


def _created_meanwhile(error: Exception) -> bool:
    """Two processes that open a new database at once both create Optuna's tables; the one that
    loses gets a duplicate-key error and simply opens what the other made."""
    text = str(error)
    return "alembic_version" in text or "already exists" in text


def study_names(storage: Any) -> list[str]:
    import optuna

    return [s.study_name for s in optuna.study.get_all_study_summaries(storage)]


def load_run_study(storage: Any, name: str, url: str) -> Any:
    """The study of run `name` in `storage`; an error naming the runs there when it is absent."""
    import optuna

    from autokd.errors import UnknownNameError

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = study_names(storage)
        if not names:
            raise AutoKDError(f"--storage {masked(url)} holds no study") from None
        raise UnknownNameError(f"run in {masked(url)}", name, names) from None
