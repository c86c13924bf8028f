"""ONNX Runtime INT8: the student exported to ONNX, quantized statically by
`onnxruntime.quantization` (QDQ format, INT8 weights per channel, UINT8 activations calibrated
by MinMax on the target's `calibration_images`), run by the CPU provider as `onnxruntime` runs.

The search times the quantized model of an untrained student, calibrated on random normal
images: the scales change no kernel, so the latency is the trained model's. The accuracy is the
trained student's, quantized on the run's calibration images (`write_deployed`), the file
`autokd export` ships.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from autokd.errors import TrialFailed
from autokd.measure.backends import onnxruntime_cpu
from autokd.measure.backends.registry import Backend, Predict, TimedCall, timing_calibration
from autokd.measure.onnx import cpu_session, onnx_bytes


def quantize(model: nn.Module, calibration: torch.Tensor) -> bytes:
    """The model as a statically quantized ONNX file, calibrated on `calibration` (normalised
    images). A graph ONNX Runtime cannot quantize fails the trial with its reason."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration.cpu().numpy().astype(np.float32)

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": images[i : i + 1]} for i in range(len(images))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="autokd-int8-") as folder:
        fp32, prepared, int8 = (Path(folder) / name for name in ("fp32", "pre", "int8"))
        fp32.write_bytes(onnx_bytes(model, calibration[:1].cpu()))
        try:
            quant_pre_process(str(fp32), str(prepared))  # shapes inferred, graph optimised
            quantize_static(
                str(prepared),
                str(int8),
                Images(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            )
        except Exception as err:  # noqa: BLE001 - the quantizer raises many types
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TrialFailed(f"ONNX Runtime cannot quantize this student ({first})") from None
        return int8.read_bytes()


def write_deployed(model: nn.Module, calibration: torch.Tensor, path: Path) -> None:
    path.write_bytes(quantize(model, calibration))


def load_deployed(path: Path, threads: int) -> Predict:
    session = cpu_session(str(path), threads)
    return lambda images: session.run(None, {"input": images})[0]


def make_call(model: nn.Module, x: torch.Tensor, *, device: str, threads: int) -> TimedCall:
    calibration = timing_calibration(x)
    session = cpu_session(quantize(model, calibration), threads)
    feeds = {"input": x.numpy()}
    return lambda: session.run(None, feeds)


BACKEND = Backend(
    name="onnxruntime-int8",
    devices=("cpu",),
    make_call=make_call,
    check=onnxruntime_cpu.check,
    versions=onnxruntime_cpu.versions,
    description="ONNX Runtime, CPU execution provider, static INT8 (QDQ)",
    timed_call="InferenceSession.run on the student exported to ONNX and quantized (QDQ)",
    deployed_file="student.int8.onnx",
    write_deployed=write_deployed,
    load_deployed=load_deployed,
    precision="int8",
    artifact=lambda model, x: quantize(model, timing_calibration(x)),
    agent_runtime="onnxruntime",
)
