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

The loop over attempts is `measure.protocol.time_call` (no PyTorch in it: `autokd agent` runs
it on a device); this module gives it the backend's call, torch's Timer and the core lock.

Backends (`measure.backends`, registered by name) turn a model into a zero-argument call that
runs one batch: `torch` (PyTorch eager, on the CPU or the GPU), ONNX Runtime, OpenVINO and
ExecuTorch, float32 and INT8. `remote` measures elsewhere: the model file goes to `autokd
agent` on another device, which times it with the same protocol.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.backends import get_backend
from autokd.measure.protocol import LatencyMeasurement, time_call
from autokd.measure.targets import Target
from autokd.runtime.cores import NO_LOCK, helpers_sleep_at_once
from autokd.runtime.environment import physical_cores


def target_threads(target: Target) -> int:
    elsewhere = get_backend(target.backend).elsewhere
    if elsewhere is not None:  # the threads of the machine it is timed on
        return elsewhere.threads(target)
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
    """Fail at once, with what to do, when this machine cannot measure on `target` (a backend
    that measures elsewhere: when that machine cannot)."""
    backend = get_backend(target.backend)
    backend.check(target.name, target.device)
    if backend.elsewhere is not None:
        backend.elsewhere.check(target)


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
    backend = get_backend(target.backend)
    if backend.elsewhere is not None:  # timed on another machine, with the same protocol
        return backend.elsewhere.measure(model, target, input_shape)
    threads = target_threads(target)
    previous_threads = torch.get_num_threads()
    x = torch.randn(target.batch_size, *input_shape)
    synchronize = torch.cuda.synchronize if target.device == "cuda" else (lambda: None)
    try:
        torch.set_num_threads(threads)
        # No autokd process on this machine trains while the cores are timed (autokd.cores).
        with lock.timing(), torch.inference_mode():
            hint = {"hint": target.performance_hint} if target.performance_hint else {}
            call = backend.make_call(model, x, device=target.device, threads=threads, **hint)
            timing = time_call(
                call,
                threads=threads,
                warmup=target.warmup,
                min_run_time=target.min_run_time,
                on_cpu=target.device == "cpu",
                synchronize=synchronize,
                timer=timer or benchmark.Timer,
                contended_timer=contended_timer,
                helpers_asleep=helpers_sleep_at_once,
            )
    finally:
        torch.set_num_threads(previous_threads)
    return LatencyMeasurement(
        median_ms=timing.median_s * 1e3,
        iqr_ms=timing.iqr_s * 1e3,
        blocks=timing.blocks,
        calls_per_block=timing.calls_per_block,
        threads=threads,
        batch_size=target.batch_size,
        backend=target.backend,
        device=target.device,
        attempts=timing.attempts,
        noisy=timing.noisy,
        contended=timing.contended,
    )
