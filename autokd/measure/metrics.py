"""FLOPs, parameters and latency of a student architecture on a hardware target, cached.

All three depend on the architecture alone, so they are computed once per architecture and kept in
the on-disk cache shared by every run on the machine: FLOPs and parameters by architecture hash,
latency by architecture hash plus the target and machine fingerprint. A repeated architecture is
never traced or timed twice.

FLOPs are fvcore's count (`measure.flops`: one fused multiply-add counts as one flop); the
latency protocol lives in `measure.latency`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from autokd.measure.backends import get_backend
from autokd.measure.flops import count_flops
from autokd.measure.latency import (
    LatencyMeasurement,
    backend_versions,
    check_target_usable,
    measure_latency,
    target_threads,
)
from autokd.measure.targets import Target
from autokd.records.cache import JsonStore
from autokd.records.yamlfiles import stable_hash
from autokd.runtime.environment import cpu_model
from autokd.runtime.settings import Settings
from autokd.students import StudentSpec, build_student, count_params

# Part of every metrics cache key: bump it when what is stored, or how it is measured, changes.
METRICS_FORMAT = 2


@dataclass(frozen=True)
class ArchitectureMetrics:
    flops: int
    params: int
    latency: LatencyMeasurement | None  # None: not cached and not timed (to be predicted)
    cached: bool  # all three came from the cache: nothing was traced or timed now
    seconds: float  # spent measuring now (0 when cached)


def latency_input_shape(config: StudentSpec, target: Target) -> tuple[int, int, int]:
    """The input a latency is measured on: the student's, unless the target sets a size."""
    side = target.input_size or config.input_size
    return (config.in_channels, side, side)


def machine_fingerprint(target: Target) -> dict[str, Any]:
    """What a latency depends on besides the architecture: the target, the machine, the library
    (for a backend that measures elsewhere, the machine there: `remote`'s agents)."""
    elsewhere = get_backend(target.backend).elsewhere
    if elsewhere is not None:
        machine = elsewhere.fingerprint(target)
    else:
        machine = {"cpu": cpu_model(), **backend_versions(target)}
    return {
        **machine,
        "threads": target_threads(target),
        "backend": target.backend,
        "device": target.device,
        "batch_size": target.batch_size,
        "warmup": target.warmup,
        "min_run_time": target.min_run_time,
        # a runtime's hint (OpenVINO's) changes how it runs; targets without one keep their keys
        **({"performance_hint": target.performance_hint} if target.performance_hint else {}),
    }


class MetricsCache:
    """FLOPs and parameters by architecture; latency by architecture and machine fingerprint;
    in the cache folder of `settings`, timing under its core lock."""

    def __init__(
        self,
        settings: Settings,
        *,
        counts: JsonStore | None = None,
        latencies: JsonStore | None = None,
    ) -> None:
        self.counts = counts or JsonStore("metrics/counts", root=settings.cache_dir)
        self.latencies = latencies or JsonStore("metrics/latency", root=settings.cache_dir)
        self.lock = settings.core_lock()

    def measure(
        self, config: StudentSpec, target: Target, *, time_latency: bool = True
    ) -> ArchitectureMetrics:
        """The architecture's metrics, measuring only what the cache does not hold; with
        `time_latency` False a latency the cache lacks stays None (`--latency predict`)."""
        check_target_usable(target)
        started = time.perf_counter()
        input_shape = (config.in_channels, config.input_size, config.input_size)
        arch_key, latency_key = _keys(config, target)
        counts = self.counts.get(arch_key, valid=_valid_counts)
        latency = self.cached_latency(config, target)
        cached = counts is not None and latency is not None
        model = None if cached else build_student(config)
        if counts is None:
            counts = {"flops": count_flops(model, input_shape), "params": count_params(model)}
            self.counts.put(arch_key, counts)
        if latency is None and time_latency:
            latency = self.time(config, target, model)
        return ArchitectureMetrics(
            flops=counts["flops"],
            params=counts["params"],
            latency=latency,
            cached=cached,
            seconds=0.0 if cached else time.perf_counter() - started,
        )

    def cached_latency(self, config: StudentSpec, target: Target) -> LatencyMeasurement | None:
        """A trusted latency the cache holds for the architecture on the target, or None."""
        stored = self.latencies.get(_keys(config, target)[1], valid=_valid_latency)
        return _as_latency(stored)

    def time(self, config: StudentSpec, target: Target, model: Any = None) -> LatencyMeasurement:
        """The architecture timed now on the target (cached when trusted)."""
        shape = latency_input_shape(config, target)
        latency = measure_latency(model or build_student(config), target, shape, lock=self.lock)
        if latency.trusted:  # a noisy or contended one would mislead every later run
            self.latencies.put(_keys(config, target)[1], asdict(latency))
        return latency

    def retime(self, config: StudentSpec, target: Target) -> LatencyMeasurement:
        """The architecture's latency timed afresh, whatever the cache holds (`autokd
        remeasure`: a doubtful timing is never cached, a trusted one replaces the cache's)."""
        check_target_usable(target)
        return self.time(config, target)


def _keys(config: StudentSpec, target: Target) -> tuple[str, str]:
    """(counts key, latency key) of an architecture on a target and this machine."""
    arch_key = stable_hash([config.arch_hash(), METRICS_FORMAT])
    shape = latency_input_shape(config, target)
    return arch_key, stable_hash([arch_key, shape, machine_fingerprint(target)])


def _valid_counts(stored: dict[str, Any]) -> bool:
    return all(_whole(stored.get(key)) for key in ("flops", "params"))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid_latency(stored: dict[str, Any]) -> bool:
    """Fields of the right types (a format change is not damage: it has other fields)."""
    if set(stored) != {f.name for f in fields(LatencyMeasurement)}:
        return True
    numbers = ("median_ms", "iqr_ms")
    counts = ("blocks", "calls_per_block", "threads", "batch_size", "attempts")
    return (
        all(type(stored[k]) in (int, float) for k in numbers)
        and all(_whole(stored[k]) for k in counts)
        and all(isinstance(stored[k], bool) for k in ("noisy", "contended"))
        and all(isinstance(stored[k], str) for k in ("backend", "device"))
    )


def _as_latency(stored: dict[str, Any] | None) -> LatencyMeasurement | None:
    """A cached latency, or None: none there, written in another format, or not `trusted`
    (timed noisy, contended or in too few blocks by an older autokd: timed again)."""
    if stored is None or set(stored) != {f.name for f in fields(LatencyMeasurement)}:
        return None
    latency = LatencyMeasurement(**stored)
    return latency if latency.trusted else None
