"""ONNX Runtime: the student exported to ONNX (`measure.onnx`), run by the CPU provider with the
target's intra-op threads, sequentially."""

from __future__ import annotations

import io

import torch
from torch import nn

from autokd.measure.backends.registry import Backend, TimedCall
from autokd.measure.onnx import onnxruntime_offline, require_onnx, to_onnx


def make_call(model: nn.Module, x: torch.Tensor, *, device: str, threads: int) -> TimedCall:
    ort = onnxruntime_offline()

    buffer = io.BytesIO()
    to_onnx(model.eval(), x, buffer)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    feeds = {"input": x.numpy()}
    return lambda: session.run(None, feeds)


def check(target_name: str, device: str) -> None:
    require_onnx(f"target '{target_name}' measures with ONNX Runtime")


def versions(device: str) -> dict[str, str]:
    import onnxruntime

    return {"onnxruntime": onnxruntime.__version__}


BACKEND = Backend(
    name="onnxruntime",
    devices=("cpu",),
    make_call=make_call,
    check=check,
    versions=versions,
    description="ONNX Runtime, CPU execution provider",
)
