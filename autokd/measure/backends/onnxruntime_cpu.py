"""ONNX Runtime: the student exported to ONNX (`measure.onnx`), run by the CPU provider with the
target's intra-op threads, sequentially."""

from __future__ import annotations

import torch
from torch import nn

from autokd.measure.backends.registry import Backend, TimedCall
from autokd.measure.onnx import cpu_session, onnx_bytes, require_onnx


def make_call(model: nn.Module, x: torch.Tensor, *, device: str, threads: int) -> TimedCall:
    session = cpu_session(onnx_bytes(model, x), threads)
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
    timed_call="InferenceSession.run on the student exported to ONNX",
    artifact=onnx_bytes,
    agent_runtime="onnxruntime",
)
