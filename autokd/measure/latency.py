"""Latency on a hardware target: one measurement protocol for every backend.

The protocol: the student in eval mode under `torch.inference_mode`, the thread count fixed to the
target's, the machine's core lock held (no autokd process trains meanwhile: `autokd.cores`),
`warmup` untimed calls (for at most `MAX_WARMUP_SECONDS`), then
`torch.utils.benchmark.Timer.blocked_autorange` for at least `min_run_time` seconds (the Timer
synchronises CUDA itself). The median and the inter-quartile
range over the timed blocks are kept. When IQR / median is above 0.1 (torch.utils.benchmark's own
warning threshold), the measurement is repeated, at most `MAX_ATTEMPTS` times in all, and the best
attempt is kept (uncontended first, then the steadiest); one still above the threshold is recorded
as noisy, and so is one timed in fewer than `MIN_TRUSTED_BLOCKS` blocks (a slow student: its
IQR of 0 would mean nothing). Only a `trusted` measurement is cached.

Contention: when the process got less than 80% of its threads' CPU time (judged over a warm-up
longer than `JUDGE_WARMUP_SECONDS`, and over every timed attempt), another program held cores it
needed. Blocks of calls then absorb every stall of a thread that waits for a core (medians 1.1x
to 20x too slow with a small IQR, measured here beside one busy process), and OpenMP helpers
that spin at barriers keep the waited-for thread off its core (25-300 ms a call for 0.5 ms
students). One attempt then times the calls one at a time (`CallByCallTimer`) with the helpers
sleeping at once (`autokd.cores.helpers_sleep_at_once`: 1.3-1.5x the quiet times here) and ends
the measurement: repeating does not make the other program leave, and a busy machine must not
make every trial pay for attempts that cannot succeed. The result is flagged `contended` and
noisy and is not cached, so a later run on a quiet machine times it again.

Backends (`measure.backends`, registered by name) turn a model into a zero-argument call that
runs one batch: `torch` (PyTorch eager, on the CPU or the GPU) and `onnxruntime` (the model
exported to ONNX, run by ONNX Runtime's CPU provider) are shipped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.backends import get_backend
from autokd.measure.targets import Target
from autokd.runtime.cores import NO_LOCK, helpers_sleep_at_once
from autokd.runtime.environment import physical_cores

NOISE_THRESHOLD = 0.1  # IQR / median above which a measurement is repeated
MAX_ATTEMPTS = 3
CONTENTION_SHARE = 0.8  # CPU time below this share of threads x wall time: cores were taken
MIN_JUDGED_SECONDS = 0.02
MAX_WARMUP_SECONDS = 10.0  # `warmup` calls, but never longer than this
JUDGE_WARMUP_SECONDS = 0.1  # a warm-up this long is judged for contention
MIN_TRUSTED_BLOCKS = 3  # fewer timed blocks: no IQR worth the name, flagged noisy, not cached
CALLS_PER_SINGLE_BLOCK = 10  # calls timed one by one that a call-by-call block's median spans


@dataclass(frozen=True)
class LatencyMeasurement:
    """One latency measurement: median and IQR in milliseconds per call on one batch."""

    median_ms: float
    iqr_ms: float
    blocks: int  # timed blocks the median is taken over
    calls_per_block: int
    threads: int
    batch_size: int
    backend: str
    device: str
    attempts: int = 1  # measurements made; more than one when the first ones were noisy
    noisy: bool = False  # IQR / median above the threshold, too few blocks, or contended
    contended: bool = False  # other processes took cores the timed threads needed: not cached

    @property
    def trusted(self) -> bool:
        """Fit to be cached for every later run on the machine: steady, uncontended, a positive
        median over enough blocks for an IQR to mean something."""
        return (
            not self.noisy
            and not self.contended
            and self.blocks >= MIN_TRUSTED_BLOCKS
            and math.isfinite(self.median_ms)
            and self.median_ms > 0
            and math.isfinite(self.iqr_ms)
            and self.iqr_ms >= 0
        )


def target_threads(target: Target) -> int:
    return target.threads or physical_cores()


def protocol_text(target: Target) -> str:
    """The protocol in one line, with what one timed call runs on this target's backend."""
    backend = get_backend(target.backend)
    return (
        f"median and IQR over timed blocks of torch.utils.benchmark blocked_autorange "
        f"(min_run_time {target.min_run_time} s) after {target.warmup} warm-up calls; one call: "
        f"{backend.timed_call} ({backend.description}); batch {target.batch_size}, "
        f"{target_threads(target)} thread(s)"
    )


def check_target_usable(target: Target) -> None:
    """Fail at once, with what to do, when this machine cannot measure on `target`."""
    get_backend(target.backend).check(target.name, target.device)


def target_usable(target: Target) -> tuple[bool, str]:
    """Whether this machine can measure on `target`, and why not."""
    try:
        check_target_usable(target)
    except AutoKDError as err:
        return False, str(err)
    return True, ""


def backend_versions(target: Target) -> dict[str, str]:
    """Library and device versions a latency depends on, for the machine fingerprint (torch's
    always: every backend starts from a torch module)."""
    return {"torch": torch.__version__, **get_backend(target.backend).versions(target.device)}


# --------------------------------------------------------------------------------------------
# The protocol


@dataclass(frozen=True)
class _BlockMedians:
    """Blocks of single-call times, each block summarised by its median: shaped like
    torch.utils.benchmark's Measurement (times in seconds per call, one per block)."""

    times: list[float]
    number_per_run: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 2:
            return 0.0
        low, _, high = statistics.quantiles(self.times, n=4)
        return high - low


class CallByCallTimer:
    """Times every call alone for `min_run_time` seconds (at least one call), a block's figure
    being the median of `CALLS_PER_SINGLE_BLOCK` consecutive calls: the timer for a contended
    machine, where a stall must spoil one call, not a block's average. Same interface as
    `torch.utils.benchmark.Timer` for the protocol's use."""

    def __init__(self, stmt: str, globals: dict[str, Any], num_threads: int) -> None:
        self.call = globals["call"]
        self.synchronize = globals.get("synchronize", lambda: None)

    def blocked_autorange(self, min_run_time: float) -> _BlockMedians:
        calls: list[float] = []
        deadline = time.perf_counter() + min_run_time
        while not calls or time.perf_counter() < deadline:
            started = time.perf_counter()
            self.call()
            self.synchronize()
            calls.append(time.perf_counter() - started)
        size = CALLS_PER_SINGLE_BLOCK
        blocks = [statistics.median(calls[i : i + size]) for i in range(0, len(calls), size)]
        whole = blocks[:-1] if len(calls) % size and len(blocks) > 1 else blocks
        return _BlockMedians(whole, number_per_run=min(size, len(calls)))


def measure_latency(
    model: nn.Module,
    target: Target,
    input_shape: tuple[int, int, int],
    *,
    timer: Any = None,
    contended_timer: Any = None,
    lock: Any = NO_LOCK,
) -> LatencyMeasurement:
    """Time `model` on `target` with the protocol described at the top of this module.

    `timer` replaces `torch.utils.benchmark.Timer`, `contended_timer` the `CallByCallTimer`
    used after a contended attempt (tests pass deliberately noisy or starved ones). `lock` is
    the machine's core lock (`Settings.core_lock()`), taken exclusively while timing.
    """
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # CUDA_HOME notice
    from torch.utils import benchmark

    check_target_usable(target)
    threads = target_threads(target)
    previous_threads = torch.get_num_threads()
    x = torch.randn(target.batch_size, *input_shape)
    make_timer = timer or benchmark.Timer
    synchronize = torch.cuda.synchronize if target.device == "cuda" else (lambda: None)
    on_cpu = target.device == "cpu"
    try:
        torch.set_num_threads(threads)
        # No autokd process on this machine trains while the cores are timed (autokd.cores).
        with lock.timing(), torch.inference_mode():
            make_call = get_backend(target.backend).make_call
            hint = {"hint": target.performance_hint} if target.performance_hint else {}
            call = make_call(model, x, device=target.device, threads=threads, **hint)
            starved = _warm_up(call, target, threads)
            synchronize()
            # (contended, blocks spoiled by contention, IQR / median, result): best first
            attempts: list[tuple[bool, bool, float, Any]] = []
            while len(attempts) < MAX_ATTEMPTS:
                call_by_call = starved or any(contended for contended, *_ in attempts)
                make = (contended_timer or CallByCallTimer) if call_by_call else make_timer
                names = {"call": call, "synchronize": synchronize}
                timed = make(stmt="call()", globals=names, num_threads=threads)
                helpers = helpers_sleep_at_once() if call_by_call else contextlib.nullcontext()
                with helpers:
                    wall, cpu = time.perf_counter(), time.process_time()
                    result = timed.blocked_autorange(min_run_time=target.min_run_time)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                # A call-by-call attempt is one for a contended machine, whatever it got.
                contended = call_by_call or (on_cpu and _contended(cpu, wall, threads))
                spread = result.iqr / result.median if result.median > 0 else math.inf
                attempts.append((contended, contended and not call_by_call, spread, result))
                if call_by_call or (spread <= NOISE_THRESHOLD and not contended):
                    break  # (repeating does not make another program leave the cores)
    finally:
        torch.set_num_threads(previous_threads)
    contended, _, spread, result = min(attempts, key=lambda attempt: attempt[:3])
    return LatencyMeasurement(
        median_ms=result.median * 1e3,
        iqr_ms=result.iqr * 1e3,
        blocks=len(result.times),
        calls_per_block=result.number_per_run,
        threads=threads,
        batch_size=target.batch_size,
        backend=target.backend,
        device=target.device,
        attempts=len(attempts),
        noisy=contended or spread > NOISE_THRESHOLD or len(result.times) < MIN_TRUSTED_BLOCKS,
        contended=contended,
    )


def _warm_up(call: Callable[[], Any], target: Target, threads: int) -> bool:
    """`target.warmup` untimed calls (at most `MAX_WARMUP_SECONDS`); whether they were starved
    of cores. Judged once `JUDGE_WARMUP_SECONDS` have passed, and then ended: a warm-up that
    slow is a contended one (beside a busy program a 0.5 ms student took 100 ms a call), and
    timing it as if the machine were quiet would cost seconds to learn the same."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(target.warmup):
        call()
        wall = time.perf_counter() - started
        judged = target.device == "cpu" and wall > JUDGE_WARMUP_SECONDS
        if judged and _contended(time.process_time() - cpu, wall, threads):
            return True
        if wall > MAX_WARMUP_SECONDS:  # a slow student is warm by now
            break
    return False


def _contended(cpu_seconds: float, wall_seconds: float, threads: int) -> bool:
    """Whether other processes held cores the timed threads needed: the process got less than
    `CONTENTION_SHARE` of `threads` cores' worth of CPU time while it was timed. Measured here:
    two threads on two idle cores get 1.99 cores, beside one busy process 1.19 (and a median
    2.4x too slow, with a small IQR: consistently wrong, which the IQR cannot show)."""
    if wall_seconds < MIN_JUDGED_SECONDS:  # too short to tell (a stand-in timer)
        return False
    return cpu_seconds < CONTENTION_SHARE * threads * wall_seconds
