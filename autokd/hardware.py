"""FLOPs, parameters and latency of a student architecture on a hardware target.

All three depend on the architecture alone, so they are computed once per architecture and kept in
the on-disk cache shared by every run on the machine: FLOPs and parameters by architecture hash,
latency by architecture hash plus the target and machine fingerprint.

FLOPs are fvcore's count: one fused multiply-add counts as one flop (convolutions, linear layers);
batch norm counts one or two per element; additions, ReLU and the students' mean pooling count
zero.

Latency protocol: the model in eval mode under `torch.inference_mode`, the thread count fixed to the
target's, `warmup` untimed calls, then `torch.utils.benchmark.Timer.blocked_autorange` for at least
`min_run_time` seconds; the median and the inter-quartile range over the timed blocks are kept.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from autokd.cache import JsonStore
from autokd.config import StudentConfig, Target, stable_hash
from autokd.environment import cpu_model, physical_cores
from autokd.students import build_student, count_params

FLOPS_CONVENTION = (
    "fvcore count: one fused multiply-add = one flop; batch norm 1-2 per element; "
    "additions, ReLU and mean pooling 0"
)
# Part of every metrics cache key: bump it when what is stored, or how it is measured, changes.
METRICS_FORMAT = 1


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """fvcore's FLOP count for one input of `input_shape` (C, H, W); see `FLOPS_CONVENTION`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore and torch.jit.trace warn about tracing itself
        from fvcore.nn import FlopCountAnalysis

        model.eval()
        analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


@dataclass(frozen=True)
class LatencyMeasurement:
    """One latency measurement: median and IQR in milliseconds per forward call of one batch."""

    median_ms: float
    iqr_ms: float
    blocks: int  # timed blocks the median is taken over
    calls_per_block: int
    threads: int
    batch_size: int
    backend: str
    device: str

    @property
    def noisy(self) -> bool:
        """torch.utils.benchmark's own warning threshold: IQR above a tenth of the median."""
        return self.iqr_ms > 0.1 * self.median_ms


def target_threads(target: Target) -> int:
    return target.threads or physical_cores()


def measure_latency(
    model: nn.Module, target: Target, input_shape: tuple[int, int, int]
) -> LatencyMeasurement:
    """Time `model` on `target` with the protocol described at the top of this module."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # CUDA_HOME notice
    from torch.utils import benchmark

    threads = target_threads(target)
    previous_threads = torch.get_num_threads()
    model.eval()
    x = torch.randn(target.batch_size, *input_shape)
    try:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            for _ in range(target.warmup):
                model(x)
            timer = benchmark.Timer(
                stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads
            )
            result = timer.blocked_autorange(min_run_time=target.min_run_time)
    finally:
        torch.set_num_threads(previous_threads)
    return LatencyMeasurement(
        median_ms=result.median * 1e3,
        iqr_ms=result.iqr * 1e3,
        blocks=len(result.times),
        calls_per_block=result.number_per_run,
        threads=threads,
        batch_size=target.batch_size,
        backend=target.backend,
        device=target.device,
    )


@dataclass(frozen=True)
class ArchitectureMetrics:
    flops: int
    params: int
    latency: LatencyMeasurement
    cached: bool  # all three came from the cache: nothing was traced or timed now
    seconds: float  # spent measuring now (0 when cached)

    def as_attrs(self) -> dict[str, Any]:
        return {  # FLOPs and the median latency are objective values, recorded there
            "params": self.params,
            "latency_iqr_ms": self.latency.iqr_ms,
            "latency_noisy": self.latency.noisy,
            "latency_blocks": self.latency.blocks,
            "metrics_cached": self.cached,
            "measure_seconds": round(self.seconds, 3),
        }


def machine_fingerprint(target: Target) -> dict[str, Any]:
    """What a latency depends on besides the architecture: the target, the machine, the library."""
    return {
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": target_threads(target),
        "backend": target.backend,
        "device": target.device,
        "batch_size": target.batch_size,
        "warmup": target.warmup,
        "min_run_time": target.min_run_time,
    }


class MetricsCache:
    """FLOPs and parameters by architecture; latency by architecture and machine fingerprint."""

    def __init__(
        self, *, counts: JsonStore | None = None, latencies: JsonStore | None = None
    ) -> None:
        self.counts = counts or JsonStore("metrics/counts")
        self.latencies = latencies or JsonStore("metrics/latency")

    def measure(self, config: StudentConfig, target: Target) -> ArchitectureMetrics:
        """The architecture's metrics, measuring only what the cache does not hold.

        A noisy latency (IQR above a tenth of the median) is used but not cached, so the next run
        that meets the architecture times it again.
        """
        started = time.perf_counter()
        input_shape = (config.in_channels, config.input_size, config.input_size)
        latency_shape = (config.in_channels, *(2 * (target.input_size or config.input_size,)))
        arch_key = stable_hash([config.arch_hash(), METRICS_FORMAT])
        latency_key = stable_hash([arch_key, latency_shape, machine_fingerprint(target)])
        counts = self.counts.get(arch_key)
        latency = _as_latency(self.latencies.get(latency_key))
        cached = counts is not None and latency is not None
        model = None if cached else build_student(config)
        if counts is None:
            counts = {"flops": count_flops(model, input_shape), "params": count_params(model)}
            self.counts.put(arch_key, counts)
        if latency is None:
            latency = measure_latency(model, target, latency_shape)
            if not latency.noisy:
                self.latencies.put(latency_key, asdict(latency))
        return ArchitectureMetrics(
            flops=counts["flops"],
            params=counts["params"],
            latency=latency,
            cached=cached,
            seconds=0.0 if cached else time.perf_counter() - started,
        )


def _as_latency(stored: dict[str, Any] | None) -> LatencyMeasurement | None:
    """A cached latency, or None when there is none or it was written in another format."""
    try:
        return LatencyMeasurement(**stored) if stored is not None else None
    except TypeError:
        return None
