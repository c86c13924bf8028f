"""Trials from one study run by several workers: exact budget, no trial twice, dead workers."""

import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest

from autokd.records.attrs import SURPLUS_ATTR, WORKER_ATTR
from autokd.records.storage import open_storage
from autokd.runtime.device import Execution
from autokd.study.workers import (
    SearchFailing,
    count_finished,
    fail_abandoned,
    failure_limit,
    plan_workers,
    run_trials,
    worker_sampler_seed,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(tmp_path, name="s"):
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    return optuna.create_study(
        study_name=name, storage=storage, directions=["maximize"], load_if_exists=True
    )


def test_two_workers_fill_the_budget_exactly_and_never_train_a_trial_twice(tmp_path):
    _study(tmp_path)
    trained = []  # (worker, trial number) of every objective call
    lock = threading.Lock()

    def worker(index):
        study = _study(tmp_path)  # its own handle, as another process would have

        def objective(trial):
            with lock:
                trained.append((index, trial.number))
            time.sleep(0.05)
            x = trial.suggest_float("x", 0, 1)
            if trial.number % 4 == 3:
                raise optuna.TrialPruned()  # pruned trials count towards the budget too
            return x

        run_trials(study, objective, budget=9)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    study = _study(tmp_path)
    assert count_finished(study) == 9
    numbers = [number for _, number in trained]
    assert len(numbers) == len(set(numbers)) == 9  # each counted trial trained once, no extra
    assert len({index for index, _ in trained}) > 1  # the work was shared
    surplus = [t for t in study.trials if t.user_attrs.get(SURPLUS_ATTR)]
    assert all(t.state == optuna.trial.TrialState.FAIL for t in surplus)


def test_a_worker_waits_for_running_trials_and_takes_a_slot_they_free(tmp_path):
    study = _study(tmp_path)
    study.enqueue_trial({"x": 0.5})
    other = study.ask()  # a trial another worker is running
    other.set_user_attr(WORKER_ATTR, f"elsewhere:{os.getpid()}")
    ran = []

    def free_the_slot():
        time.sleep(0.6)
        study.tell(other, state=optuna.trial.TrialState.FAIL)  # its worker gave up

    thread = threading.Thread(target=free_the_slot)
    thread.start()
    started = time.perf_counter()
    run_trials(_study(tmp_path), lambda t: ran.append(t.number) or 1.0, budget=1)
    thread.join()
    assert ran == [1] and time.perf_counter() - started >= 0.5
    assert count_finished(_study(tmp_path)) == 1


def test_a_trial_of_a_dead_worker_on_this_machine_is_failed(tmp_path):
    import socket

    study = _study(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{int(dead.stdout)}")
    alive = study.ask()
    alive.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
    assert fail_abandoned(study) == 1
    states = {t.number: t.state for t in _study(tmp_path).trials}
    assert states[trial.number] == optuna.trial.TrialState.FAIL
    assert states[alive.number] == optuna.trial.TrialState.RUNNING
    reason = _study(tmp_path).trials[trial.number].user_attrs["fail_reason"]
    assert f":{int(dead.stdout)}) ended without closing it" in reason  # never an empty reason


def test_a_trial_without_an_owner_is_failed_once_older_than_the_grace_period(tmp_path):
    from datetime import datetime, timedelta

    from autokd.records.storage import GRACE_SECONDS

    study = _study(tmp_path)  # a worker SIGKILLed inside ask(): RUNNING, no owner, no heartbeat
    started = datetime.now() - timedelta(seconds=GRACE_SECONDS + 5)
    old = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING)
    old.datetime_start = started
    study.add_trial(old)
    study.ask()  # just asked: its worker is about to record itself
    assert fail_abandoned(study) == 1
    states = [t.state for t in _study(tmp_path).trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING]
    assert "no worker claimed it" in _study(tmp_path).trials[0].user_attrs["fail_reason"]


def test_a_trial_whose_heartbeat_stopped_is_failed_with_its_reason(tmp_path):
    import sqlite3

    study = _study(tmp_path)  # its worker on another machine: only its heartbeat tells
    trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, "another-machine:1")
    study._storage.record_heartbeat(trial._trial_id)
    with sqlite3.connect(tmp_path / "study.db") as db:  # its last beat, two minutes ago
        db.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-2 minutes')")
    assert fail_abandoned(study) == 1
    (failed,) = _study(tmp_path).trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert "sent no heartbeat for 60 s" in failed.user_attrs["fail_reason"]
    assert failed.user_attrs["worker_stopped"] is True  # not counted towards the failure limit


def test_an_interrupted_trial_is_failed_with_its_reason_and_not_counted_as_a_failure(tmp_path):
    from autokd.study.workers import _close_interrupted, _failed_with_reason

    study = _study(tmp_path)
    _close_interrupted(study, study.ask())
    (trial,) = _study(tmp_path).trials
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["fail_reason"].startswith("interrupted: the search was stopped")
    assert _failed_with_reason(study) == []  # the student did not fail: no step to the limit


def test_workers_a_user_starts_together_sample_from_different_seeds(monkeypatch):
    import autokd.study.workers as workers

    seeds = set()
    for pid in (4101, 4102):  # two `autokd worker`s started at the same moment: same trials
        monkeypatch.setattr(workers.os, "getpid", lambda pid=pid: pid)
        seeds.add(worker_sampler_seed(7, 3, None))
    assert len(seeds) == 2
    numbered = {worker_sampler_seed(7, 3, index) for index in (1, 2)}  # a search's own workers
    assert len(numbered) == 2 and numbered == {worker_sampler_seed(7, 3, i) for i in (1, 2)}


def test_a_failing_objective_fails_its_trial_and_the_worker_goes_on(tmp_path):
    study = _study(tmp_path)

    def objective(trial):
        if trial.number == 1:
            raise RuntimeError("boom\nsecond line")
        return float("nan") if trial.number == 2 else 0.5  # NaN: Optuna could not record it

    assert run_trials(study, objective, budget=3) == 5
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3  # the budget, exactly
    assert [t.user_attrs.get("fail_reason") for t in study.trials[1:3]] == [
        "RuntimeError: boom",
        "the trial gave (nan,), not 1 finite number(s)",
    ]


def test_a_worker_stops_once_too_many_trials_failed(tmp_path):
    study = _study(tmp_path)

    def objective(trial):
        raise ValueError("always")

    with pytest.raises(SearchFailing, match="10 trials failed, the last one: ValueError: always"):
        run_trials(study, objective, budget=3)
    assert len(study.trials) == failure_limit(3) == 10


def test_an_interrupt_fails_its_trial_and_stops_the_worker(tmp_path):
    study = _study(tmp_path)

    def objective(trial):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trials(study, objective, budget=3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("moment", ["ask", "tell"])
def test_a_signal_inside_a_storage_call_leaves_no_running_trial(
    tmp_path, monkeypatch, signum, moment
):
    """Ctrl-C or SIGTERM that lands while a trial is being created, or while its values are being
    recorded, waits for that call: the trial ends FAIL or COMPLETE, never RUNNING for good."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # the CLI's, in short
    study = _study(tmp_path)
    storage_call = getattr(study, moment)

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signum)  # Python runs the handler before this call returns
        return storage_call(*args, **kwargs)

    monkeypatch.setattr(study, moment, interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_trials(study, lambda trial: 0.5, budget=3)
    finally:
        signal.signal(signal.SIGTERM, previous)
    expected = "FAIL" if moment == "ask" else "COMPLETE"
    assert [t.state.name for t in study.trials] == [expected]


class _SignalsWhenCollected:
    """Sends a signal from its finalizer, where Python drops the exception the handler raises."""

    def __init__(self, signum):
        self.signum = signum

    def __del__(self):
        signal.raise_signal(self.signum)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_whose_exception_a_finalizer_swallowed_still_stops_the_worker(tmp_path, signum):
    """A SIGTERM (or Ctrl-C) that lands while SQLAlchemy runs a finalizer is lost by Python; the
    worker must stop at the next trial boundary all the same, not run the rest of the budget."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # the CLI's, in short
    study = _study(tmp_path)

    def objective(trial):
        _SignalsWhenCollected(signum)  # collected at once: the handler's exception is dropped
        return 0.5

    try:
        with pytest.raises(KeyboardInterrupt):
            run_trials(study, objective, budget=5)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [t.state.name for t in study.trials] == ["COMPLETE"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_plan_on_the_cpu_is_one_thread_per_worker(monkeypatch):
    monkeypatch.setattr("autokd.study.workers.physical_cores", lambda: 4)
    auto = plan_workers(None, Execution("cpu"), budget=50)
    assert (auto.workers, auto.threads, auto.devices) == (4, 1, ("cpu",))
    assert "one per physical core" in auto.reason
    assert plan_workers(None, Execution("cpu"), budget=3).workers == 3  # never more than trials
    assert plan_workers(2, Execution("cpu"), budget=50).workers == 2
    assert "share them" in plan_workers(8, Execution("cpu"), budget=50).reason


def test_plan_on_gpus_spreads_workers_unless_one_gpu_is_named(monkeypatch):
    monkeypatch.setattr("autokd.study.workers.physical_cores", lambda: 16)
    monkeypatch.setattr("autokd.study.workers.gpu_count", lambda: 2)
    spread = plan_workers(None, Execution("cuda:0", "bf16"), budget=50)
    assert spread.workers == 2 and [spread.device_of(i) for i in range(4)] == [
        "cuda:0",
        "cuda:1",
        "cuda:0",
        "cuda:1",
    ]
    assert spread.threads == 8
    pinned = plan_workers(3, Execution("cuda:1", "bf16"), budget=50, pinned=True)
    assert pinned.devices == ("cuda:1",) and pinned.workers == 3


def test_plan_refuses_zero_workers():
    from autokd.errors import AutoKDError

    with pytest.raises(AutoKDError, match="--workers must be 1 or more"):
        plan_workers(0, Execution("cpu"), budget=5)
