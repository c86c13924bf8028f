"""Trials from one study, run by any number of processes on any number of machines.

`run_trials` is what every worker runs, the search process itself included: ask the study for a
trial, claim one of the budget's slots for it, run it, tell the result. The budget is exact
across processes: a trial may run only when the trials already counted (complete or pruned) plus
those running with a lower number leave room for it. Two workers that ask at the same moment
both see each other (numbers are given out by the database), so at most `budget` trials ever run
to the end; a trial that loses the race is closed at once as FAIL with the `surplus` attribute
(nothing was trained; the tables leave it out). A worker whose slots are all taken waits for the
running trials: if one of them fails, its slot is free again.

A trial that raises fails alone: it is recorded FAIL with its reason (`fail_reason`: the
exception in one line, out of memory, divergence) and the worker goes on with the next one. A
failed trial does not count towards the budget, so a search whose trials keep failing would never
end: it stops once `failure_limit(budget)` trials have failed, with the last reason.

A trial whose worker died stays RUNNING until it is failed: at once when the worker ran on this
machine (its process id is recorded and is gone), else after the storage's heartbeat grace
period (`autokd.storage.GRACE_SECONDS`). A worker killed inside `study.ask()` (SIGKILL, power
loss) leaves a trial with neither owner nor heartbeat: it is failed once it is older than that
grace period, so that it cannot hold a budget slot for ever.

`plan_workers` decides how many workers and threads a search uses; `start_local_workers` starts
the extra ones as `autokd worker` processes on this machine.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autokd.errors import AutoKDError, TrialFailed
from autokd.records.attrs import FAIL_ATTR, STOPPED_WORKER_ATTR, SURPLUS_ATTR, WORKER_ATTR
from autokd.records.storage import GRACE_SECONDS
from autokd.runtime.cores import NO_LOCK
from autokd.runtime.device import Execution, gpu_count
from autokd.runtime.environment import physical_cores
from autokd.runtime.plugins import import_paths, plugin_modules

MIN_FAILURE_LIMIT = 10  # a search stops once this many trials (or `budget`, if more) failed
POLL_SECONDS = 0.5  # how often a worker whose slots are all taken looks again


@dataclass(frozen=True)
class WorkerPlan:
    """How a search spreads its trials: workers, training threads each, and the devices."""

    workers: int
    threads: int  # intra-op threads of each worker's training
    devices: tuple[str, ...]  # worker i trains on devices[i % len(devices)]
    reason: str  # said to the user: what `auto` picked and why

    def device_of(self, worker: int) -> str:
        return self.devices[worker % len(self.devices)]


def plan_workers(
    requested: int | None,
    execution: Execution,
    *,
    budget: int,
    pinned: bool = False,
    one_process: str | None = None,
    threads_override: int | None = None,
) -> WorkerPlan:
    """`requested` workers (None: auto). On the CPU each worker trains with one thread (a small
    student's step gains nothing from a second one, and loses up to 15x on a busy machine: the
    README's "Threads, on purpose"), and auto starts one worker per physical core. On CUDA auto
    starts one worker per GPU and spreads the workers over the GPUs in turn, unless the device
    named one GPU (`pinned`, `--device cuda:N`). `one_process` says why the trials cannot run
    in other processes: auto then plans one worker, and more are refused."""
    if requested is not None and requested < 1:
        raise AutoKDError(f"--workers must be 1 or more (or auto), got {requested}")
    if one_process is not None:
        if requested is not None and requested > 1:
            raise AutoKDError(f"--workers {requested}: {one_process}; run it with one worker")
        threads = threads_override or 1
        reason = f"1 worker ({one_process}), {threads} training thread(s)"
        return WorkerPlan(1, threads, (execution.device,), reason)
    cores = physical_cores()
    if execution.on_gpu:
        gpus = 1 if pinned else gpu_count()
        devices = (execution.device,) if pinned else tuple(f"cuda:{i}" for i in range(gpus))
        workers = min(requested or len(devices), budget)
        why = "auto: one per GPU" if requested is None else "--workers"
        threads = max(1, cores // workers)
        reason = f"{workers} worker(s) ({why}) on {', '.join(devices)}, {threads} thread(s) each"
        return WorkerPlan(workers, threads, devices, reason)
    workers = requested or cores
    why = "auto: one per physical core" if requested is None else "--workers"
    if workers > cores:
        why += f"; more workers than the {cores} physical cores share them"
    workers = min(workers, budget)
    threads = threads_override or 1
    reason = f"{workers} worker(s) ({why}), {threads} training thread(s) each"
    return WorkerPlan(workers, threads, ("cpu",), reason)


def counted_states() -> tuple[Any, ...]:
    """The states that count towards the budget: complete or pruned (failed ones are retried)."""
    import optuna

    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def count_finished(study: Any) -> int:
    """How many trials count towards the budget (see `counted_states`)."""
    return len(study.get_trials(deepcopy=False, states=counted_states()))


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_sampler_seed(run_seed: int, trials_so_far: int, worker_index: int | None) -> int:
    """The seed of a worker's sampler. Workers a search starts are numbered, so their offsets
    are fixed; a worker a user starts has no number, and two started at the same moment would
    sample the same students from the same seed: its host and process id pick its offset."""
    numbered = worker_index is not None
    offset = 1009 * worker_index if numbered else zlib.crc32(_worker_id().encode())
    return run_seed + trials_so_far + offset


def fail_abandoned(study: Any) -> int:
    """Fail RUNNING trials whose worker is gone: a process of this machine that no longer
    exists, or (any machine) no heartbeat for the grace period, or no owner for the grace period
    (a worker killed inside `study.ask()`, before it could record itself). Returns how many."""
    import optuna

    failed = _fail_heartbeat_stale(study)
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        owner = str(trial.user_attrs.get(WORKER_ATTR, ""))
        owner_host, _, pid = owner.rpartition(":")
        dead_here = owner_host == host and pid.isdigit() and not _alive(int(pid))
        if dead_here or (not owner and _older_than_grace(trial)):
            reason = (
                f"its worker ({owner}) ended without closing it (killed, or its storage "
                "could not be written: a full disk?)"
                if dead_here
                else f"no worker claimed it within {GRACE_SECONDS:g} s (one killed as it began)"
            )
            try:
                _record_stopped(optuna.trial.Trial(study, trial._trial_id), reason)
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                failed += 1
            except (ValueError, RuntimeError):  # another worker failed it first
                pass
    return failed


def _fail_heartbeat_stale(study: Any) -> int:
    """Fail the RUNNING trials whose heartbeat is older than the grace period, each with its
    reason (Optuna's `fail_stale_trials` records none). Returns how many this call failed."""
    import optuna
    from optuna.storages._heartbeat import is_heartbeat_enabled

    storage = study._storage  # Optuna's own `fail_stale_trials` reads the same private parts
    stale_ids = getattr(storage, "_get_stale_trial_ids", None)
    with _quiet():
        if stale_ids is None or not is_heartbeat_enabled(storage):
            return 0
        failed = 0
        for trial_id in stale_ids(study._study_id):
            try:
                _record_stopped(
                    optuna.trial.Trial(study, trial_id),
                    f"its worker sent no heartbeat for {GRACE_SECONDS:g} s (stopped, killed, "
                    "or its machine lost)",
                )
                state = optuna.trial.TrialState.FAIL
                failed += bool(storage.set_trial_state_values(trial_id, state=state))
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
                pass  # another worker failed it first
    return failed


def _record_stopped(trial: Any, reason: str) -> None:
    """A trial that fails because its worker stopped: its reason, marked as not the student's
    (so that it does not count towards `failure_limit`)."""
    trial.set_user_attr(FAIL_ATTR, reason)
    trial.set_user_attr(STOPPED_WORKER_ATTR, True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's heartbeat API outside `optimize()` is what this module builds on: no warnings."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        yield


def _older_than_grace(trial: Any) -> bool:
    """Whether `trial` started longer ago than the heartbeat grace period. Optuna stamps the
    start with the asking machine's clock: across machines only clock skew beyond it misleads."""
    started = trial.datetime_start
    return started is not None and (datetime.now() - started).total_seconds() > GRACE_SECONDS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slot_free(study: Any, number: int, budget: int) -> bool | None:
    """True: trial `number` may run. False: the budget is taken for good. None: wait, the
    running trials may still fail and free a slot. (One read of the study.)"""
    import optuna

    finished = running_ahead = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in counted_states():
            finished += 1
        elif (
            trial.state == optuna.trial.TrialState.RUNNING
            and trial.number < number
            and not trial.user_attrs.get(SURPLUS_ATTR)
        ):
            running_ahead += 1
    if finished + running_ahead < budget:
        return True
    return False if finished >= budget else None


class _Heartbeat:
    """Records the running trial's heartbeat in the storage while the trial trains."""

    def __init__(self, study: Any, trial: Any) -> None:
        storage = study._storage
        self._record = getattr(storage, "record_heartbeat", None)
        self._interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
        self._trial_id = trial._trial_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._record is not None and self._interval:
            self._record(self._trial_id)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # a missed beat only risks a late failure
                self._record(self._trial_id)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def failure_limit(budget: int) -> int:
    """Failed trials after which a search stops: its budget, and at least `MIN_FAILURE_LIMIT`."""
    return max(MIN_FAILURE_LIMIT, budget)


def failure_reason(error: BaseException) -> str:
    """An exception as one line for trials.csv and the terminal: autokd's own reason as it is,
    another exception as its type and first line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, TrialFailed):
        text = first
    else:
        text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _failed_with_reason(study: Any) -> list[Any]:
    import optuna

    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    attrs = [trial.user_attrs for trial in failed]
    return [t for t, a in zip(failed, attrs, strict=True)
            if a.get(FAIL_ATTR) and not a.get(STOPPED_WORKER_ATTR)]  # fmt: skip


def run_trials(
    study: Any,
    objective: Callable[[Any], tuple[float, ...]],
    *,
    budget: int,
    on_trial: Callable[[Any, Any], None] = lambda study, trial: None,
    lock: Any = NO_LOCK,
) -> int:
    """Run trials of `study` until it holds `budget` counted trials; returns how many this
    worker ran. `objective` raising `optuna.TrialPruned` records a pruned trial; an `Exception`
    fails that trial with its reason, and the next one runs (see `failure_limit`); Ctrl-C and
    other interruptions fail the trial and are raised again. The caller holds the machine's core
    `lock` (`runtime.cores`); this lets go of it while it waits."""
    import optuna

    ran = 0
    with _interrupts_remembered() as raise_any_swallowed:
        while True:
            raise_any_swallowed()  # a Ctrl-C or SIGTERM whose exception hit a finalizer
            fail_abandoned(study)
            state = _slot_free(study, number=sys.maxsize, budget=budget)
            if state is False:
                return ran
            if state is None:  # every slot is taken by a running trial: wait for them
                with lock.released():
                    time.sleep(POLL_SECONDS)
                continue
            trial = None
            try:  # whatever stops this worker once it holds a trial closes that trial
                with _interrupts_deferred():  # a trial is asked for and owned in one step
                    with _quiet():  # Optuna warns that heartbeats are meant for optimize()
                        trial = study.ask()
                    trial.set_user_attr(WORKER_ATTR, _worker_id())
                if not _slot_free(study, trial.number, budget):  # another took the last slot
                    trial.set_user_attr(SURPLUS_ATTR, True)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                with _Heartbeat(study, trial):
                    values = _recordable(objective(trial), len(study.directions))
            except optuna.TrialPruned:
                frozen = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            except BaseException as error:
                if trial is None:  # the storage refused a new trial: nothing to close
                    raise
                if isinstance(error, Exception):  # this trial failed, not the search: go on
                    frozen = _fail_trial(study, trial, error, budget)
                else:
                    _close_interrupted(study, trial)
                    raise
            else:
                with _interrupts_deferred():  # told whole, or not at all
                    frozen = study.tell(trial, values)
            ran += 1
            on_trial(study, frozen)


def _recordable(values: Any, objectives: int) -> tuple[float, ...]:
    """The objective's values, or TrialFailed when Optuna could not record them as a complete
    trial (it would fail the trial without a reason, and the search would retry forever)."""
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if len(values) != objectives or not all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in values
    ):
        raise TrialFailed(f"the trial gave {values!r}, not {objectives} finite number(s)")
    return values


def _fail_trial(study: Any, trial: Any, error: Exception, budget: int) -> Any:
    """Record `trial` FAIL with its reason; returns the frozen trial. Raises `SearchFailing`
    once `failure_limit(budget)` trials have failed. A full disk stops the search: its error goes
    up, the trial closed as the worker's failure. A storage that cannot record the failure is
    this worker's own failure too: the trial's error goes up (the trial is failed, with its
    reason, when the run is next opened: `fail_abandoned`)."""
    import optuna

    reason = failure_reason(error)
    disk_full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    try:
        if disk_full:  # not the student's failure, and the next trial's too: the search stops
            where = f" writing '{error.filename}'" if error.filename else ""
            _record_stopped(trial, f"the disk was full{where}")
        else:
            trial.set_user_attr(FAIL_ATTR, reason)
        frozen = study.tell(trial, state=optuna.trial.TrialState.FAIL)
        failed = len(_failed_with_reason(study))
    except Exception:
        raise error from None
    if disk_full:
        raise error
    if failed >= failure_limit(budget):
        raise SearchFailing(
            f"{failed} trials failed, the last one: {reason}; the search stops (each trial's "
            f"reason is in trials.csv, column {FAIL_ATTR})"
        )
    return frozen


class SearchFailing(AutoKDError):
    """Trials keep failing: the search stops rather than retrying without end."""


def _close_interrupted(study: Any, trial: Any) -> None:
    """Record an interrupted trial FAIL, so that no RUNNING trial outlives its worker. A second
    Ctrl-C waits until it is recorded; a storage that is gone leaves the trial to
    `fail_abandoned`."""
    import optuna

    with _interrupts_deferred(), contextlib.suppress(Exception):  # or it was already told
        _record_stopped(trial, "interrupted: the search was stopped (Ctrl-C or SIGTERM) as it ran")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


_DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block has run, then act as usual: a storage call
    that they would cut in half (a trial created but not yet owned, values sent but not
    recorded) completes first. Signal handlers belong to the main thread only."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if not on_main_thread or any(signal.getsignal(n) is None for n in _DEFERRED_SIGNALS):
        yield  # None: a handler set outside Python, which could not be put back
        return
    pending: list[int] = []

    def remember(signum: int, frame: Any) -> None:
        pending.append(signum)

    previous = {n: signal.signal(n, remember) for n in _DEFERRED_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pending:
            signal.raise_signal(pending[0])  # its own handler runs now, raising as it would have


@contextlib.contextmanager
def _interrupts_remembered() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM act through their handlers as usual (KeyboardInterrupt, or the CLI's
    `Terminated`) and are also remembered: Python drops an exception raised while a finalizer
    runs (SQLAlchemy's, say). The callable this yields raises the remembered one again, so the
    next trial boundary stops the worker all the same. Signal handlers belong to the main thread
    only; a signal with no Python handler (the default, or ignored) is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    handlers = {n: h for n in _DEFERRED_SIGNALS if callable(h := signal.getsignal(n))}
    received: list[int] = []

    def remember(signum: int, frame: Any) -> None:
        received.append(signum)
        handlers[signum](signum, frame)

    def raise_any_swallowed() -> None:
        if received:
            handlers[received[0]](received[0], None)

    for number in handlers:
        signal.signal(number, remember)
    try:
        yield raise_any_swallowed
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


_PR_SET_PDEATHSIG = 1


def stop_with_parent(parent: int | None) -> None:
    """In a worker started by a search (`parent`: the search's process id): ask Linux for
    SIGTERM when that search dies, however it dies (SIGKILL included), so the worker stops as on
    Ctrl-C and fails its trial for the next run to retry. Elsewhere, or where prctl is missing,
    nothing."""
    import ctypes
    import signal

    if parent is None:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the search died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def start_local_workers(
    plan: WorkerPlan, *, storage_url: str, study_name: str, first: int = 1
) -> list[subprocess.Popen]:
    """Start workers `first`..`plan.workers - 1` as `autokd worker` processes on this machine.

    They read the run's settings from the study; the URL travels in the environment (a
    password on a command line would show in `ps`); their thread count, this process's id and
    the plug-in modules this process registered from (`runtime.plugins`) on their command line.
    Their output goes to this process's stderr (a worker's error is seen), their bars off.
    """
    from autokd.runtime.settings import STORAGE_VARIABLE

    modules, _ = plugin_modules()
    paths = [*import_paths(modules), os.environ.get("PYTHONPATH", "")]
    env = {
        **os.environ,
        STORAGE_VARIABLE: storage_url,
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
    }
    processes = []
    for worker in range(first, plan.workers):
        command = [
            sys.executable,
            "-m",
            "autokd",
            "worker",
            "--name",
            study_name,
            "--device",
            plan.device_of(worker),
            "--worker-index",
            str(worker),
            "--threads",
            str(plan.threads),
            "--parent",
            str(os.getpid()),
            "--quiet",
        ]
        if modules:
            command += ["--plugins", ",".join(modules)]
        processes.append(
            subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches this process, which passes it on once
            )
        )
    return processes


def stop_local_workers(processes: list[subprocess.Popen], *, interrupt: bool) -> list[int]:
    """Wait for the workers (interrupting them first when the search was interrupted); their
    exit codes. A worker interrupted mid-trial fails that trial, so a rerun trains it again."""
    import signal

    if interrupt:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=None if not interrupt else 60))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    return codes
