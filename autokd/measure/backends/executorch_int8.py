"""ExecuTorch INT8: the student quantized by PT2E with the XNNPACK quantizer (INT8 weights per
channel, INT8 activations calibrated on the target's `calibration_images`), lowered to the
XNNPACK delegate and run by ExecuTorch's runtime as `executorch` runs. As for the other INT8
backends, the latency is timed on an untrained student calibrated on random images (the scales
change no kernel), the accuracy is the trained student's quantized on the run's calibration
images, and export ships it as `student.int8.pte` (batch 1).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from autokd.measure.backends import executorch_xnnpack
from autokd.measure.backends.registry import Backend, Predict, TimedCall, timing_calibration
from autokd.measure.executorch import load_method, predict_one_by_one, to_pte, versions


def write_deployed(model: nn.Module, calibration: torch.Tensor, path: Path) -> None:
    path.write_bytes(to_pte(model, calibration[:1], calibration))


def load_deployed(path: Path, threads: int) -> Predict:
    method = load_method(path.read_bytes(), threads)
    return lambda images: predict_one_by_one(method, images)


def make_call(model: nn.Module, x: torch.Tensor, *, device: str, threads: int) -> TimedCall:
    method = load_method(to_pte(model, x, timing_calibration(x)), threads)
    inputs = [x.detach().clone()]
    return lambda: method.execute(inputs)


BACKEND = Backend(
    name="executorch-int8",
    devices=("cpu",),
    make_call=make_call,
    check=executorch_xnnpack.check,
    versions=lambda device: versions(),
    description="ExecuTorch, XNNPACK delegate, INT8 by PT2E (XNNPACK quantizer)",
    timed_call="Method.execute of the quantized, lowered .pte program",
    deployed_file="student.int8.pte",
    write_deployed=write_deployed,
    load_deployed=load_deployed,
    precision="int8",
)
