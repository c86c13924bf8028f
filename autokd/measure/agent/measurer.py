"""One measurement at a time, in a child process of its own.

A model file comes from the network: a runtime may crash on a malformed one (a native abort
takes the process with it) or hang. So the agent never loads one itself: a child process
(started once, kept warm between measurements) loads and times it; the agent waits at most
`timeout` seconds for its answer. A child that dies or overruns is killed and replaced, and the
request is answered with what happened. The model stays in memory: nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from autokd.measure.agent.runtimes import RUNTIMES
from autokd.measure.protocol import time_call


@dataclass(frozen=True)
class Job:
    runtime: str
    model: bytes
    shape: tuple[int, ...]  # the timed batch, (N, C, H, W)
    threads: int
    warmup: int
    min_run_time: float
    hint: str | None = None


def protocol_seconds(job: Job) -> float:
    """The longest the protocol itself may take on `job`: the warm-up's bound, then every
    attempt's blocks (a block may overrun `min_run_time` by its own length: twice each)."""
    from autokd.measure.protocol import MAX_ATTEMPTS, MAX_WARMUP_SECONDS

    return MAX_WARMUP_SECONDS + 2 * MAX_ATTEMPTS * job.min_run_time


class MeasurementFailed(Exception):
    """The model could not be measured: its reason, for the answer (HTTP 422)."""


class MeasurementTimedOut(Exception):
    """The measurement overran its bound; its process was killed (HTTP 504)."""


def measure(job: Job) -> dict[str, Any]:
    """The protocol's result for `job`, in this process (the child's work)."""
    x = np.random.default_rng(0).standard_normal(job.shape, dtype=np.float32)
    call = RUNTIMES[job.runtime].load(job.model, x, job.threads, job.hint)
    call()  # a model that loads but cannot run fails here, before any timing
    timing = time_call(call, threads=job.threads, warmup=job.warmup, min_run_time=job.min_run_time)
    return asdict(timing)


def _serve(connection: Any) -> None:
    """The child: jobs in, results (or the reason a job failed) out, until told to stop."""
    while True:
        job = connection.recv()
        if job is None:
            return
        try:
            connection.send({"timing": measure(job)})
        except Exception as err:  # noqa: BLE001 - whatever the runtime raises is the answer
            text = str(err).strip()
            first = text.splitlines()[0] if text else type(err).__name__
            connection.send({"error": f"{type(err).__name__}: {first}"[:500]})


class Measurer:
    """The child process and its pipe; `measure` is called by one request at a time."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")  # no threads inherited mid-state
        self._process: Any = None
        self._connection: Any = None
        self._lock = threading.Lock()

    def measure(self, job: Job, timeout: float) -> dict[str, Any]:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            try:
                self._connection.send(job)
            except OSError:  # the child died between jobs: a new one takes it
                self._stop(kill=True)
                self._start()
                self._connection.send(job)
            if not self._connection.poll(timeout):
                self._stop(kill=True)
                raise MeasurementTimedOut(f"the measurement took longer than {timeout:g} s")
            try:
                answer = self._connection.recv()
            except EOFError:  # the runtime took the child with it
                code = self._process.exitcode if self._process else None
                self._stop(kill=True)
                raise MeasurementFailed(
                    f"the runtime crashed on this model (its process ended, code {code})"
                ) from None
        if "error" in answer:
            raise MeasurementFailed(answer["error"])
        return answer["timing"]

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent

    def _stop(self, *, kill: bool) -> None:
        if self._process is not None:
            if kill:
                self._process.kill()
            self._process.join(timeout=5)
        if self._connection is not None:
            self._connection.close()
        self._process, self._connection = None, None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._process and self._process.is_alive():
                with contextlib.suppress(OSError):
                    self._connection.send(None)
            self._stop(kill=False)
