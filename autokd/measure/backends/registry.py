"""The backend registry: `Backend`, registering and looking up (see the package)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autokd.runtime.registry import Registry

TimedCall = Callable[[], Any]
# The model as it ships, for its accuracy: normalised float32 images (N, C, H, W) -> logits (N, K)
Predict = Callable[[np.ndarray], np.ndarray]


def _usable_anywhere(target_name: str, device: str) -> None:
    return None


def _no_versions(device: str) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Elsewhere:
    """What a backend that measures on another machine (`remote`) does instead of a local
    call: the target-file keys it adds (parsed into `Target.options`), the check before any
    work, the fingerprint of the machine it measures on, and the measurement itself."""

    keys: tuple[str, ...]
    parse: Callable[[Path, Mapping[str, Any]], Any]  # (target file, its fields) -> options
    check: Callable[[Any], None]  # (target) -> None, or AutoKDError with what to do
    fingerprint: Callable[[Any], dict[str, Any]]  # (target) -> the machine's part of the key
    threads: Callable[[Any], int]  # (target) -> the threads it times with there
    measure: Callable[[nn.Module, Any, tuple[int, int, int]], Any]  # -> LatencyMeasurement
    # the target-file fields of the same measurement on this machine (`autokd measure` compares)
    local_twin: Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Backend:
    name: str
    devices: tuple[str, ...]
    make_call: Callable[..., TimedCall] | None = None  # (model, x, *, device, threads[, hint])
    check: Callable[[str, str], None] = _usable_anywhere
    versions: Callable[[str], dict[str, str]] = _no_versions
    description: str = ""
    timed_call: str = "one call of the model"  # what one timed call runs (the latency protocol)
    # A backend that changes the model's numbers (INT8) ships a file of its own: written from
    # the trained model and calibration images, loaded back to predict. The search then takes
    # that file's accuracy as the objective and export ships it; without one, the model runs as
    # trained and its PyTorch accuracy counts.
    deployed_file: str = ""  # its name in a bundle, `student.int8.onnx`
    write_deployed: Callable[[nn.Module, torch.Tensor, Path], None] | None = None
    load_deployed: Callable[[Path, int], Predict] | None = None  # (file, threads)
    precision: str = "fp32"  # of the model the backend times: fp32 or int8
    # The runtime's performance hints a target may choose, its default first (OpenVINO's
    # `latency`, `throughput`); a backend with some is given the target's as `hint=`
    hints: tuple[str, ...] = ()
    # The model file the timed call runs, for `autokd agent` to run it on a device: its bytes
    # from the student and a batch, and the agent's runtime that runs them ("": not sendable)
    artifact: Callable[[nn.Module, torch.Tensor], bytes] | None = None
    agent_runtime: str = ""
    elsewhere: Elsewhere | None = None  # measured on another machine (`remote`), not by a call

    @property
    def quantizes(self) -> bool:
        return self.write_deployed is not None


def timing_calibration(x: torch.Tensor, count: int = 8) -> torch.Tensor:
    """Random normal images shaped like `x` that calibrate the quantized model a latency is timed
    on: quantization scales change no kernel, so an untrained student calibrated on them times
    as the trained one will."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn((count, *x.shape[1:]), generator=generator)


BACKENDS: Registry[Backend] = Registry("backend")


def register_backend(backend: Backend) -> Backend:
    defined_by = backend.make_call or (backend.elsewhere and backend.elsewhere.measure)
    return BACKENDS.add(backend.name, backend, defined_by=defined_by)


def list_backends() -> list[str]:
    return BACKENDS.names()


def get_backend(name: str) -> Backend:
    return BACKENDS.get(name)
