"""The machine-wide core lock: no latency timed while another worker works; threads on purpose."""

import threading
import time

import pytest

from autokd.runtime import cores
from autokd.runtime.cores import (
    CoreLock,
    CoresBusy,
    helpers_sleep_at_once,
    set_training_threads,
    threads_for,
)


def test_a_measurement_waits_for_a_working_process_to_reach_a_yield_point(tmp_path):
    worker, measurer = CoreLock(tmp_path), CoreLock(tmp_path)  # two handles: two processes
    events = []
    with worker.holding():

        def measure():
            with measurer.timing():
                events.append("timed")

        thread = threading.Thread(target=measure)
        thread.start()
        time.sleep(0.3)
        assert events == []  # the worker still holds the cores: nothing is timed
        events.append("worker yields")
        worker.yield_point()  # blocks until the measurement is done
        events.append("worker resumes")
        thread.join(5)
    assert events == ["worker yields", "timed", "worker resumes"]


def test_a_worker_does_not_start_working_while_a_latency_is_timed(tmp_path):
    worker, measurer = CoreLock(tmp_path), CoreLock(tmp_path)
    events = []
    with measurer.timing():

        def work():
            with worker.holding():
                events.append("worked")

        thread = threading.Thread(target=work)
        thread.start()
        time.sleep(0.3)
        assert events == []
        events.append("timing done")
    thread.join(5)
    assert events == ["timing done", "worked"]


def test_a_holder_measures_itself_and_keeps_holding(tmp_path):
    lock, other = CoreLock(tmp_path), CoreLock(tmp_path)
    with lock.holding():
        with lock.timing():  # lets go of its own share first: no deadlock with itself
            pass
        # it holds again: another measurer must wait for it
        done = threading.Event()

        def measure():
            with other.timing():
                done.set()

        thread = threading.Thread(target=measure)
        thread.start()
        assert not done.wait(0.3)
    assert done.wait(5)
    thread.join(5)


def test_waiting_for_work_lets_measurements_through(tmp_path):
    worker, measurer = CoreLock(tmp_path), CoreLock(tmp_path)
    with worker.holding(), worker.released(), measurer.timing():
        pass  # would block forever if the idle worker still held the cores


def test_yield_point_is_free_without_a_measurement(tmp_path):
    lock = CoreLock(tmp_path)
    lock.yield_point()  # not holding: a no-op
    with lock.holding():
        started = time.perf_counter()
        for _ in range(1000):
            lock.yield_point()
        per_call = (time.perf_counter() - started) / 1000
    assert per_call < 1e-3  # microseconds in practice; a training step takes milliseconds


def test_threads_are_shared_out_and_overridable(monkeypatch):
    import torch

    from autokd.runtime.environment import physical_cores
    from autokd.runtime.settings import Settings

    monkeypatch.delenv("AUTOKD_THREADS", raising=False)
    assert threads_for(1) == physical_cores()
    assert threads_for(physical_cores() * 4) == 1
    monkeypatch.setenv("AUTOKD_THREADS", "3")
    assert threads_for(1, Settings.from_environment().threads) == 3
    before = torch.get_num_threads()
    try:
        assert set_training_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("kind", ["gate", "cores"])
def test_lock_files_are_named_after_the_host(tmp_path, kind):
    import socket

    lock = CoreLock(tmp_path)
    with lock.holding():
        pass
    assert (tmp_path / f"{socket.gethostname()}-{kind}.lock").is_file()


def test_no_wait_for_the_cores_is_unbounded(tmp_path, monkeypatch):
    """A holder that never reaches a yield point (a stopped process): the measurement gives up
    after the wait limit with a reason that fails its trial, instead of waiting for ever."""
    monkeypatch.setattr(cores, "WAIT_LIMIT_SECONDS", 0.2)
    stuck, measurer = CoreLock(tmp_path), CoreLock(tmp_path)
    with stuck.holding():
        started = time.monotonic()
        with (
            pytest.raises(CoresBusy, match="waited 0 s for the other workers to pause"),
            measurer.timing(),
        ):
            pass
        assert time.monotonic() - started < 2
    with measurer.timing():  # the gate was let go: the next measurement goes through
        pass


@pytest.fixture
def two_threads(monkeypatch):
    """Two training threads, a watch window of 0.05 s, and a stand-in run-queue clock (a real
    one depends on what else this machine runs)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(cores, "WATCH_SECONDS", 0.05)
    waited = {"seconds": 0.0}
    monkeypatch.setattr(cores, "run_queue_seconds", lambda: waited["seconds"])
    yield torch, waited
    torch.set_num_threads(before)


def test_training_kept_waiting_for_cores_gives_up_a_thread(two_threads):
    """Threads runnable without a core for 35% of threads x wall (two-thread convolutions beside
    a busy loop, measured): one thread dropped; one thread is the floor."""
    torch, waited = two_threads
    watch = cores.ThreadWatch()
    time.sleep(0.06)
    waited["seconds"] += 0.35 * 2 * 0.06
    watch.check()
    assert torch.get_num_threads() == 1
    time.sleep(0.06)
    waited["seconds"] += 0.06
    watch.check()
    assert torch.get_num_threads() == 1


def test_a_quiet_window_a_short_one_or_a_gpu_run_keeps_its_threads(two_threads):
    torch, waited = two_threads
    watch = cores.ThreadWatch()
    watch.check()  # too short to judge
    time.sleep(0.06)  # idle (data, a pause for a latency): sleeping is not waiting for a core
    waited["seconds"] += 0.01 * 2 * 0.06
    watch.check()
    gpu = cores.ThreadWatch(enabled=False)  # the CPU mostly waits for the GPU: not judged
    time.sleep(0.06)
    waited["seconds"] += 2 * 0.06
    gpu.check()
    assert torch.get_num_threads() == 2


def test_the_run_queue_clock_reads_this_process():
    waited = cores.run_queue_seconds()
    assert waited is None or waited >= 0.0


def test_sleeping_helpers_leave_threads_and_results_as_they_were():
    import torch

    before_threads, before_alive = torch.get_num_threads(), threading.active_count()
    x = torch.randn(64, 64)
    with helpers_sleep_at_once():
        assert torch.get_num_threads() == before_threads  # set again once the team is parked
        inside = x @ x
    assert torch.equal(inside, x @ x)
    assert torch.get_num_threads() == before_threads
    assert threading.active_count() == before_alive  # the parking thread has ended
