"""Kill `autokd search` (or `autokd train`) with SIGKILL at random moments, continue it each time
with the same command, and check that nothing was lost.

Used by tests/test_kill.py (a few kills) and benchmarks/kill.py (many). After every kill:

- every trial that had completed is still complete, with the same values;
- the caches hold no damaged entry (every JSON file parses);
and once the command finally ends on its own:
- exactly `budget` trials count (complete or pruned), none is left RUNNING;
- trials.csv lists the study's trials with their states, and the report was written after the
  study's last change.

The moment a kill hit is read from what was on disk just before it: no teacher cached yet
(teacher training), teacher but no teacher outputs, a trial running in a live process, none
(start-up, or between trials), or every trial told (tables and report).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class KillRecord:
    kills: int = 0
    moments: Counter = field(default_factory=Counter)
    trials_lost: int = 0  # complete before a kill, not complete (or changed) after it
    stuck: int = 0  # RUNNING when the command ended on its own
    complete_at_end: int = 0
    runs: int = 0  # processes started, the final one included
    damaged_cache_files: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**self.__dict__, "moments": dict(self.moments)}

    def add(self, other: KillRecord) -> None:
        """Fold another run's record into this one (a campaign of several runs)."""
        for name, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.moments.update(other.moments)
        self.problems.extend(other.problems)


def _study_trials(db: Path) -> dict[int, tuple[str, tuple[float, ...]]]:
    """number -> (state, values), read with sqlite3 (read-only: opening must not write)."""
    import sqlite3

    if not db.is_file():
        return {}
    uri = f"{db.resolve().as_uri()}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as con:
            rows = con.execute("SELECT trial_id, number, state FROM trials").fetchall()
            values = con.execute(
                "SELECT trial_id, objective, value FROM trial_values ORDER BY objective"
            ).fetchall()
    except sqlite3.Error:  # made but not yet holding the tables
        return {}
    by_id: dict[int, list[float]] = {}
    for trial_id, _, value in values:
        by_id.setdefault(trial_id, []).append(value)
    return {number: (state, tuple(by_id.get(tid, []))) for tid, number, state in rows}


def _running_alive(db: Path) -> bool:
    """Whether a RUNNING trial belongs to a live process (not one a kill left behind)."""
    import sqlite3

    uri = f"{db.resolve().as_uri()}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as con:
            owners = con.execute(
                "SELECT a.value_json FROM trials t JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id WHERE t.state = 'RUNNING' AND a.key = 'worker'"
            ).fetchall()
    except sqlite3.Error:
        return False
    pids = [json.loads(value).rpartition(":")[2] for (value,) in owners]
    return any(pid.isdigit() and Path(f"/proc/{pid}").exists() for pid in pids)


def _holds(folder: Path, pattern: str) -> bool:
    return folder.is_dir() and any(folder.glob(pattern))


MOMENTS = (
    "teacher training (and start-up)",
    "teacher outputs",
    "a trial",
    "start-up or between trials (study, sampler, weights)",
    "tables and report",
)


def _moment(cache: Path, run: Path, budget: int) -> str:
    if not _holds(cache / "teachers", "*.pt"):
        return MOMENTS[0]
    if not _holds(cache / "teacher_outputs", "*.pt"):
        return MOMENTS[1]
    states = _states(run)
    if _counted(states) >= budget:
        return MOMENTS[4]
    if states["RUNNING"] and _running_alive(run / "study.db"):
        return MOMENTS[2]
    return MOMENTS[3]


def _states(run: Path) -> Counter:
    """How many of the run's trials are in each state."""
    return Counter(state for state, _ in _study_trials(run / "study.db").values())


def _counted(states: Counter) -> int:
    """Trials that count towards the budget (complete or stopped)."""
    return states["COMPLETE"] + states["PRUNED"]


def _damaged_json(cache: Path) -> int:
    damaged = 0
    for path in cache.rglob("*.json"):
        try:
            json.loads(path.read_text())
        except (ValueError, OSError):
            damaged += 1
    return damaged


def _start(command: list[str], cwd: Path, cache: Path) -> subprocess.Popen:
    """The command in its own process group (so that a kill takes it whole), cache `cache`."""
    return subprocess.Popen(
        command, cwd=cwd, env={**os.environ, "AUTOKD_CACHE_DIR": str(cache)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()


def kill_search(
    args: list[str],
    *,
    cwd: Path,
    run: Path,
    cache: Path,
    budget: int,
    kills: int,
    seed: int,
    max_delay: float,
    aim: bool = False,
) -> KillRecord:
    """Start `python -m autokd *args`, kill it `kills` times at random delays in
    [0.2, max_delay] s, each time starting the same command again; then let it finish.

    A kill that finds no progress since the one before (same moment, no trial finished) doubles
    the next delay's range, so that a slow machine gets past a moment longer than `max_delay`
    (the teacher's training). With `aim`, the kills take the `MOMENTS` in turn: each waits (up
    to `max_delay`) for its moment to show on disk, so that short moments (the teacher's
    outputs, the report) are hit too."""
    record, rng = KillRecord(), random.Random(seed)
    command = [sys.executable, "-m", "autokd", *args]
    seen: dict[int, tuple[float, ...]] = {}
    stretch, last_progress = 1.0, None
    while True:
        process = _start(command, cwd, cache)
        record.runs += 1
        if record.kills < kills:
            wanted = MOMENTS[record.kills % len(MOMENTS)] if aim else None
            wait = rng.uniform(0.2, max_delay * stretch) if not aim else max_delay
            if wanted == MOMENTS[-1]:
                wait = 10 * max_delay  # the whole budget must run first
            deadline = time.monotonic() + wait
            while process.poll() is None and time.monotonic() < deadline:
                if wanted is not None and _moment(cache, run, budget) == wanted:
                    time.sleep(rng.uniform(0.0, 0.1))  # somewhere inside the moment
                    break
                time.sleep(0.02)
            if process.poll() is None:
                moment = _moment(cache, run, budget)
                _kill(process)  # the search (its workers follow it: parent-death signal)
                record.kills += 1
                record.moments[moment] += 1
                # no progress since the last kill: a slow machine may never get past this moment
                # (the teacher's training, a trial: each starts over), so wait longer next time
                progress = (moment, _counted(_states(run)))
                stretch = stretch * 2 if progress == last_progress else 1.0
                last_progress = progress
                _check_kept(run, seen, record)
                continue
        _, err = process.communicate(timeout=900)
        if process.returncode != 0:
            record.problems.append(f"exit {process.returncode}: {err.strip()[-500:]}")
            return record
        if "is damaged" in err:
            record.problems.append(f"a damaged cache entry was found: {err.strip()[-300:]}")
        break
    _check_kept(run, seen, record)
    _check_end(run, budget, record, cwd)
    record.damaged_cache_files = _damaged_json(cache)
    return record


def _check_kept(run: Path, seen: dict[int, tuple[float, ...]], record: KillRecord) -> None:
    """Every trial seen complete is still complete with the same values; remember new ones."""
    trials = _study_trials(run / "study.db")
    for number, values in seen.items():
        state, now = trials.get(number, ("MISSING", ()))
        if state != "COMPLETE" or now != values:
            record.trials_lost += 1
            record.problems.append(f"trial {number} was complete {values}, now {state} {now}")
    seen.update({n: v for n, (state, v) in trials.items() if state == "COMPLETE"})


def _check_end(run: Path, budget: int, record: KillRecord, cwd: Path) -> None:
    trials = _study_trials(run / "study.db")
    states = Counter(state for state, _ in trials.values())
    record.stuck = states["RUNNING"]
    record.complete_at_end = states["COMPLETE"]
    if _counted(states) != budget:
        record.problems.append(f"{dict(states)} counted trials, budget {budget}")
    with open(run / "trials.csv") as handle:
        rows = {int(r["number"]): r["state"] for r in csv.DictReader(handle)}
    listed = {n: state for n, (state, _) in trials.items() if n in rows}
    if rows != listed or set(rows) - set(trials):
        record.problems.append(f"trials.csv {rows} differs from the study {listed}")
    summary = json.loads((run / "summary.json").read_text())
    report = cwd / summary["report"]  # as the command wrote it, from its folder
    if not report.is_file() or report.stat().st_mtime < (run / "study.db").stat().st_mtime - 5:
        record.problems.append("the report is missing or older than the study")


def kill_train(
    args: list[str], *, cwd: Path, output: Path, cache: Path, kills: int, seed: int,
    max_delay: float, epochs: int,
) -> KillRecord:  # fmt: skip
    """`autokd train ... -o output --resume`, killed `kills` times and resumed each time: the
    finished result must hold every epoch once, in order."""
    record, rng = KillRecord(), random.Random(seed)
    command = [sys.executable, "-m", "autokd", *args, "-o", str(output), "--resume"]
    while True:
        process = _start(command, cwd, cache)
        record.runs += 1
        if record.kills < kills:
            deadline = time.monotonic() + rng.uniform(0.2, max_delay)
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if process.poll() is None:
                done = (output / "checkpoint.pt").is_file()
                record.moments[
                    "training, after a checkpoint" if done else "before a checkpoint"
                ] += 1
                _kill(process)
                record.kills += 1
                continue
        _, err = process.communicate(timeout=900)
        if process.returncode != 0:
            record.problems.append(f"exit {process.returncode}: {err.strip()[-500:]}")
            return record
        break
    result = json.loads((output / "result.json").read_text())
    if [h["epoch"] for h in result["history"]] != list(range(1, epochs + 1)):
        record.problems.append(f"epochs {[h['epoch'] for h in result['history']]}")
    record.damaged_cache_files = _damaged_json(cache)
    return record
