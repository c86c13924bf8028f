"""OpenVINO on the CPU: the student converted by OpenVINO (`measure.openvino`) and run by its CPU
plugin with the target's threads, the latency hint and float32 precision."""

from __future__ import annotations

import torch
from torch import nn

from autokd.measure.backends.registry import Backend, TimedCall
from autokd.measure.onnx import onnx_bytes
from autokd.measure.openvino import HINTS, compile_cpu, require_openvino, to_openvino, versions


def make_call(
    model: nn.Module, x: torch.Tensor, *, device: str, threads: int, hint: str = HINTS[0]
) -> TimedCall:
    request = compile_cpu(to_openvino(model, x), threads, hint).create_infer_request()
    feeds = {0: x.numpy()}
    return lambda: request.infer(feeds)


def check(target_name: str, device: str) -> None:
    require_openvino(f"target '{target_name}' measures with OpenVINO")


BACKEND = Backend(
    name="openvino",
    devices=("cpu",),
    make_call=make_call,
    hints=HINTS,
    check=check,
    versions=lambda device: versions(),
    description="OpenVINO, CPU plugin, float32",
    timed_call="InferRequest.infer on the compiled OpenVINO model",
    artifact=onnx_bytes,  # the agent reads the ONNX file with OpenVINO (nothing on its disk)
    agent_runtime="openvino",
)
