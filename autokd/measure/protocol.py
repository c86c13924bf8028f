"""The latency protocol on one zero-argument call, without PyTorch: what `measure.latency` runs
for every local backend and `autokd agent` runs on a device that has no PyTorch.

`warmup` untimed calls (judged for contention, at most `MAX_WARMUP_SECONDS`), then blocks of
calls for at least `min_run_time` seconds, their median and inter-quartile range kept; a noisy
attempt is repeated, a contended one times call by call and ends the measurement (the reasons
are in `measure.latency`'s docstring, where the numbers behind them are).

The blocks come from `torch.utils.benchmark.Timer.blocked_autorange` when the caller passes it
(`measure.latency` does), else from `BlockTimer`, the same algorithm in plain Python: a block
size grown by tens until the timer's overhead is negligible, then blocks of that size until
`min_run_time` has passed; times per call, median and quartiles interpolated as torch does.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NOISE_THRESHOLD = 0.1  # IQR / median above which a measurement is repeated
MAX_ATTEMPTS = 3
CONTENTION_SHARE = 0.8  # CPU time below this share of threads x wall time: cores were taken
MIN_JUDGED_SECONDS = 0.02
MAX_WARMUP_SECONDS = 10.0  # `warmup` calls, but never longer than this
JUDGE_WARMUP_SECONDS = 0.1  # a warm-up this long is judged for contention
MIN_TRUSTED_BLOCKS = 3  # fewer timed blocks: no IQR worth the name, flagged noisy, not cached
CALLS_PER_SINGLE_BLOCK = 10  # calls timed one by one that a call-by-call block's median spans
MAX_BLOCK_SIZE = 2_147_483_647  # torch's own bound on calls per block


@dataclass(frozen=True)
class Timing:
    """The protocol's result for one call: seconds per call over the kept attempt's blocks."""

    median_s: float
    iqr_s: float
    blocks: int
    calls_per_block: int
    attempts: int
    noisy: bool
    contended: bool


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


@dataclass(frozen=True)
class BlockTimes:
    """Seconds per call, one figure per timed block (the shape of torch's Measurement)."""

    times: list[float]
    number_per_run: int

    @property
    def median(self) -> float:
        return _quantile(self.times, 0.5)

    @property
    def iqr(self) -> float:
        return _quantile(self.times, 0.75) - _quantile(self.times, 0.25)


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics, as `torch.quantile` computes it."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class BlockTimer:
    """`torch.utils.benchmark.Timer.blocked_autorange`'s algorithm without torch (same
    constructor and method as the protocol uses them)."""

    def __init__(self, stmt: str, globals: dict[str, Any], num_threads: int) -> None:
        self.call = globals["call"]
        self.synchronize = globals.get("synchronize", lambda: None)

    def _time(self, number: int) -> float:
        call, started = self.call, time.perf_counter()
        for _ in range(number):
            call()
        self.synchronize()
        return time.perf_counter() - started

    def blocked_autorange(self, min_run_time: float) -> BlockTimes:
        overhead = statistics.median(self._time(0) for _ in range(5))
        number = 1
        while True:  # a block long enough that the timer's own overhead does not count
            taken = self._time(number)
            if overhead / max(taken, 1e-12) <= 1e-4 and taken >= min_run_time / 1000:
                break
            if taken > min_run_time or number * 10 > MAX_BLOCK_SIZE:
                break
            number *= 10
        times, total = [], 0.0
        while total < min_run_time:
            spent = self._time(number)
            times.append(spent / number)
            total += spent
        return BlockTimes(times, number)


class CallByCallTimer:
    """Times every call alone for `min_run_time` seconds (at least one call), a block's figure
    being the median of `CALLS_PER_SINGLE_BLOCK` consecutive calls: the timer for a contended
    machine, where a stall must spoil one call, not a block's average."""

    def __init__(self, stmt: str, globals: dict[str, Any], num_threads: int) -> None:
        self.call = globals["call"]
        self.synchronize = globals.get("synchronize", lambda: None)

    def blocked_autorange(self, min_run_time: float) -> BlockTimes:
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
        return _ExclusiveIQR(whole, number_per_run=min(size, len(calls)))


class _ExclusiveIQR(BlockTimes):
    """Call-by-call blocks keep the quartiles they have always had (`statistics.quantiles`)."""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 2:
            return 0.0
        low, _, high = statistics.quantiles(self.times, n=4)
        return high - low


def time_call(
    call: Callable[[], Any],
    *,
    threads: int,
    warmup: int,
    min_run_time: float,
    on_cpu: bool = True,
    synchronize: Callable[[], Any] = lambda: None,
    timer: Any = None,
    contended_timer: Any = None,
    helpers_asleep: Callable[[], Any] = contextlib.nullcontext,
) -> Timing:
    """Time `call` with the protocol (module docstring). `timer` makes blocks (default
    `BlockTimer`), `contended_timer` the call-by-call ones after a contended attempt;
    `helpers_asleep` is the context a call-by-call attempt runs in (PyTorch's OpenMP helpers
    put to sleep, `runtime.cores`)."""
    starved = _warm_up(call, warmup, threads, on_cpu)
    synchronize()
    # (contended, blocks spoiled by contention, IQR / median, result): best first
    attempts: list[tuple[bool, bool, float, Any]] = []
    while len(attempts) < MAX_ATTEMPTS:
        call_by_call = starved or any(contended for contended, *_ in attempts)
        make = (contended_timer or CallByCallTimer) if call_by_call else (timer or BlockTimer)
        timed = make(stmt="call()", globals={"call": call, "synchronize": synchronize},
                     num_threads=threads)  # fmt: skip
        with helpers_asleep() if call_by_call else contextlib.nullcontext():
            wall, cpu = time.perf_counter(), time.process_time()
            result = timed.blocked_autorange(min_run_time=min_run_time)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        # A call-by-call attempt is one for a contended machine, whatever it got.
        contended = call_by_call or (on_cpu and contended_share(cpu, wall, threads))
        spread = result.iqr / result.median if result.median > 0 else math.inf
        attempts.append((contended, contended and not call_by_call, spread, result))
        if call_by_call or (spread <= NOISE_THRESHOLD and not contended):
            break  # (repeating does not make another program leave the cores)
    contended, _, spread, result = min(attempts, key=lambda attempt: attempt[:3])
    return Timing(
        median_s=result.median,
        iqr_s=result.iqr,
        blocks=len(result.times),
        calls_per_block=result.number_per_run,
        attempts=len(attempts),
        noisy=contended or spread > NOISE_THRESHOLD or len(result.times) < MIN_TRUSTED_BLOCKS,
        contended=contended,
    )


def _warm_up(call: Callable[[], Any], warmup: int, threads: int, on_cpu: bool) -> bool:
    """`warmup` untimed calls (at most `MAX_WARMUP_SECONDS`); whether they were starved of
    cores. Judged once `JUDGE_WARMUP_SECONDS` have passed, and then ended: a warm-up that slow
    is a contended one (beside a busy program a 0.5 ms student took 100 ms a call), and timing
    it as if the machine were quiet would cost seconds to learn the same."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(warmup):
        call()
        wall = time.perf_counter() - started
        judged = on_cpu and wall > JUDGE_WARMUP_SECONDS
        if judged and contended_share(time.process_time() - cpu, wall, threads):
            return True
        if wall > MAX_WARMUP_SECONDS:  # a slow student is warm by now
            break
    return False


def contended_share(cpu_seconds: float, wall_seconds: float, threads: int) -> bool:
    """Whether other processes held cores the timed threads needed: the process got less than
    `CONTENTION_SHARE` of `threads` cores' worth of CPU time while it was timed. Measured here:
    two threads on two idle cores get 1.99 cores, beside one busy process 1.19 (and a median
    2.4x too slow, with a small IQR: consistently wrong, which the IQR cannot show)."""
    if wall_seconds < MIN_JUDGED_SECONDS:  # too short to tell (a stand-in timer)
        return False
    return cpu_seconds < CONTENTION_SHARE * threads * wall_seconds
