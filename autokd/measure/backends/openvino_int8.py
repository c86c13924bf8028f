"""OpenVINO INT8: the student converted by OpenVINO, quantized by NNCF's post-training
quantization (`nncf.quantize`, calibrated on the target's `calibration_images`), run by the CPU
plugin as `openvino` runs. As for `onnxruntime-int8`, the latency is timed on an untrained
student calibrated on random images (the scales change no kernel), the accuracy is the trained
student's quantized on the run's calibration images, and export ships it as OpenVINO IR
(`student.int8.xml` and its `.bin`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from autokd.errors import TrialFailed
from autokd.measure.backends.registry import Backend, Predict, TimedCall, timing_calibration
from autokd.measure.openvino import (
    HINTS,
    compile_cpu,
    openvino_offline,
    quantize_openvino,
    require_openvino,
    to_openvino,
    versions,
)


def quantize(model: nn.Module, calibration: torch.Tensor) -> object:
    """The OpenVINO model quantized to INT8; a student NNCF cannot quantize fails its trial."""
    try:
        return quantize_openvino(to_openvino(model, calibration[:1].cpu()), calibration)
    except Exception as err:  # noqa: BLE001 - the converter and NNCF raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TrialFailed(f"OpenVINO cannot convert or quantize this student ({first})") from None


def write_deployed(model: nn.Module, calibration: torch.Tensor, path: Path) -> None:
    openvino_offline().save_model(quantize(model, calibration), path, compress_to_fp16=False)


def load_deployed(path: Path, threads: int) -> Predict:
    compiled = compile_cpu(openvino_offline().Core().read_model(path), threads)
    return lambda images: compiled(images)[0]


def make_call(
    model: nn.Module, x: torch.Tensor, *, device: str, threads: int, hint: str = HINTS[0]
) -> TimedCall:
    calibration = timing_calibration(x)
    request = compile_cpu(quantize(model, calibration), threads, hint).create_infer_request()
    feeds = {0: x.numpy()}
    return lambda: request.infer(feeds)


def check(target_name: str, device: str) -> None:
    require_openvino(f"target '{target_name}' quantizes with OpenVINO and NNCF", nncf=True)


BACKEND = Backend(
    name="openvino-int8",
    devices=("cpu",),
    make_call=make_call,
    hints=HINTS,
    check=check,
    versions=lambda device: versions(),
    description="OpenVINO, CPU plugin, INT8 by NNCF",
    timed_call="InferRequest.infer on the NNCF-quantized, compiled OpenVINO model",
    deployed_file="student.int8.xml",
    write_deployed=write_deployed,
    load_deployed=load_deployed,
    precision="int8",
)
