"""The machine's cores: how many threads each training process uses, and who may time latency.

Timing and training share the cores through one machine-wide lock (two files under
`<cache>/locks/`, `Settings.lock_dir`, named after the host so that a cache folder shared over
the network never couples two machines; it travels with the training as `Execution.lock`):

- an autokd process that works on the cores (a search worker for its whole life, any training
  run) **holds** the cores lock shared, and at every **yield point** (between two training
  batches, before an evaluation, while it waits for work) looks at the gate;
- a latency measurement takes the **gate** exclusively, then the **cores** exclusively: every
  holder stops at its next yield point (it lets go of the cores and waits at the gate), and the
  measurement runs with no other autokd process doing anything, whichever run it belongs to.

So a latency is never timed while another worker trains, samples, saves weights or starts up,
and a waiting measurement is not starved (holders stop at the gate). No wait is unbounded: past
`WAIT_LIMIT_SECONDS` (a process stopped while holding the lock) the waiter gives up with
`CoresBusy`, which fails the trial it was in. A yield point costs two
`flock` calls, microseconds against milliseconds of training. Processes of other programs are
outside autokd's reach: the latency protocol's repeats and noise flag deal with them
(hardware/README.md).

Threads: a student's training step is a stream of small operations; splitting each over threads
buys nothing on a quiet machine and costs up to 15x as soon as another process wants a core
(docs/usage.md, "Threads, on purpose"). So parallelism goes across trials (`--workers`), one
thread per worker, and a process that trains alone (the teacher, `autokd train`,
`autokd validate`) takes the physical cores, never PyTorch's default.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autokd.errors import AutoKDError, TrialFailed
from autokd.runtime.environment import physical_cores

WAIT_LIMIT_SECONDS = 600.0  # the longest any autokd process waits for the cores or the gate
WATCH_SECONDS = 2.0  # training judged at a time by `ThreadWatch`
WAITING_SHARE = 0.2  # time runnable without a core over threads x wall: other programs run
PARALLEL_GRAIN = 32768  # elements per thread below which PyTorch keeps an element-wise op serial


class CoresBusy(TrialFailed, AutoKDError):
    """Another autokd process held the cores (or the gate) past `WAIT_LIMIT_SECONDS`: stopped,
    or stuck. Inside a trial it fails that trial; elsewhere it is one line, exit 2."""


def _flock(fd: int, mode: int, what: str) -> None:
    """`flock(fd, mode)`, waiting at most `WAIT_LIMIT_SECONDS` (polling every 1 to 10 ms), so
    that one stopped process cannot stall every autokd process on the machine for ever."""
    deadline, pause = time.monotonic() + WAIT_LIMIT_SECONDS, 0.001
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise CoresBusy(
                    f"waited {WAIT_LIMIT_SECONDS:.0f} s for {what}: another autokd process on "
                    "this machine holds it and does not let go (stopped or stuck?)"
                ) from None
            time.sleep(pause)
            pause = min(2 * pause, 0.01)


class CoreLock:
    """The machine-wide timing/training lock described at the top of this module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, int] = {}
        self._depth = 0  # nested holds in this process; the shared lock is taken at the first

    def _fd(self, kind: str) -> int:
        if kind not in self._files:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{socket.gethostname()}-{kind}.lock"
            self._files[kind] = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        return self._files[kind]

    def _take(self) -> None:
        """Pass the gate (waiting while a measurement holds it), then share the cores."""
        gate = self._fd("gate")
        _flock(gate, fcntl.LOCK_SH, "a latency measurement to end")
        fcntl.flock(gate, fcntl.LOCK_UN)
        _flock(self._fd("cores"), fcntl.LOCK_SH, "the cores")

    def _let_go(self) -> None:
        fcntl.flock(self._fd("cores"), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Work on the cores: shared with other workers, paused only at yield points."""
        if self._depth == 0:
            self._take()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._let_go()

    def yield_point(self) -> None:
        """Let a waiting measurement have the cores: a no-op unless one is waiting."""
        if self._depth == 0:
            return
        gate = self._fd("gate")
        try:
            fcntl.flock(gate, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # a measurement holds the gate: step aside until it is done
            self._let_go()
            self._take()
        else:
            fcntl.flock(gate, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Not working on the cores for a while (waiting): nobody needs to wait for us."""
        if self._depth:
            self._let_go()
        try:
            yield
        finally:
            if self._depth:
                self._take()

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        """Every core of the machine, with no other autokd process working: for a latency."""
        gate, cores = self._fd("gate"), self._fd("cores")
        with self.released():
            _flock(gate, fcntl.LOCK_EX, "another latency measurement to end")
            try:
                _flock(cores, fcntl.LOCK_EX, "the other workers to pause")
                try:
                    yield
                finally:
                    fcntl.flock(cores, fcntl.LOCK_UN)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        """In another process (a validation pool's), the same folder's lock, opened there."""
        return core_lock, (self.folder,)


class _NoLock:
    """The lock of a process that coordinates with no other: every hold, yield and timing is
    free (a direct library call outside the API, a test)."""

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        yield

    def yield_point(self) -> None:
        return None

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        yield


NO_LOCK: Any = _NoLock()
_LOCKS: dict[Path, CoreLock] = {}


def core_lock(folder: Path) -> CoreLock:
    """This process's handle on the machine's lock in `folder` (`Settings.lock_dir`), opened
    once: every autokd process of a cache folder shares it."""
    folder = Path(folder)
    if folder not in _LOCKS:
        _LOCKS[folder] = CoreLock(folder)
    return _LOCKS[folder]


def threads_for(processes: int, override: int | None = None) -> int:
    """Training threads for each of `processes` processes that train at once on this machine's
    physical cores: an equal share, at least one, unless `override` (`AUTOKD_THREADS`) says
    otherwise."""
    return override or max(1, physical_cores() // max(1, processes))


def set_training_threads(threads: int) -> int:
    """Fix PyTorch's intra-op threads for this process (never left at the library default)."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # settable once, before any parallel work
        torch.set_num_interop_threads(1)
    return threads


@contextlib.contextmanager
def threads_kept() -> Iterator[None]:
    """PyTorch's intra-op thread count as it was, once the block ends (whatever it changed)."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def helpers_sleep_at_once() -> Iterator[None]:
    """Within the block, this process's OpenMP helper threads sleep as soon as they wait.

    GNU OpenMP (PyTorch's on Linux) lets a helper that reaches a barrier spin up to 300,000
    times before it sleeps, and only 100 times while the process runs more OpenMP threads than
    it has CPUs (`GOMP_SPINCOUNT` in its manual: "throttled"). Beside another busy program that
    spinning is what ruins a multi-thread call: a helper spins on a core the other program
    wants while the thread it waits for has none, and a 2-thread student took 25-300 ms a call
    instead of 0.4-1.6 ms (8 students, 3 runs, beside one busy loop; worse when the loop ran
    in another terminal session). With helpers that sleep at once the same students took
    1.3-1.5x their quiet-machine times in every run. On a quiet machine sleeping costs a
    wake-up per parallel region (4x here), so only a contended measurement asks for it.

    How: a thread of its own opens one OpenMP team of more threads than the machine has CPUs
    and parks (its helpers asleep, costing nothing) until the block ends; libgomp then counts
    the process as oversubscribed. Other OpenMP runtimes ignore the parked team. The calling
    thread's PyTorch thread count is set again once the team is parked (MKL's is global).
    """
    import torch

    threads = torch.get_num_threads()
    parked, release = threading.Event(), threading.Event()

    def park() -> None:
        try:
            team = (os.cpu_count() or 1) + 1
            torch.set_num_threads(team)
            torch.ones(team * PARALLEL_GRAIN).add_(1)  # one chunk per thread: a team of `team`
        finally:
            parked.set()
        release.wait()

    parker = threading.Thread(target=park, name="autokd-omp-park", daemon=True)
    parker.start()
    parked.wait()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        release.set()
        parker.join()


def run_queue_seconds() -> float | None:
    """Seconds this process's threads have spent runnable but waiting for a core (Linux's
    `/proc/self/task/*/schedstat`, second field), or None where the kernel does not say. Sleeping
    (waiting for data, for the lock) does not count: only a core being taken does."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    waited = 0
    for task in tasks:
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread that just ended
            waited += int(Path(f"/proc/self/task/{task}/schedstat").read_text().split()[1])
    return waited / 1e9


class ThreadWatch:
    """Gives up CPU training threads that other programs keep waiting. A process that trains
    alone starts on every physical core; when another program then runs, each parallel region
    waits for a descheduled thread (measured here: a teacher's 63 s of training took 718 s
    beside one busy process; 109 s with this watch). Every `WATCH_SECONDS` of training, the
    time its threads spent runnable but without a core is compared with threads x wall: above
    `WAITING_SHARE`, one thread is dropped (down to one). Measured here over two-thread
    convolutions: 1% quiet, 35% beside a busy loop. Sleeping (data, a pause for a latency) is
    not waiting for a core, so a quiet machine never drops. `fit` restores the thread count when
    it ends; where the kernel gives no run-queue times (not Linux) nothing is judged. Off on a
    GPU, where the CPU mostly waits for the device."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and run_queue_seconds() is not None
        self.restart()

    def restart(self) -> None:
        """Judge from now on."""
        if self.enabled:
            self._wall, self._waited = time.perf_counter(), run_queue_seconds() or 0.0

    def check(self) -> None:
        """At a yield point, between two batches."""
        import torch

        if not self.enabled:
            return
        wall, threads = time.perf_counter() - self._wall, torch.get_num_threads()
        if threads == 1 or wall < WATCH_SECONDS:
            return
        waited = (run_queue_seconds() or 0.0) - self._waited
        if waited > WAITING_SHARE * threads * wall:
            torch.set_num_threads(threads - 1)
        self.restart()
