"""PyTorch eager: the student itself, on the CPU or (device cuda) on the GPU."""

from __future__ import annotations

import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.backends.registry import Backend, TimedCall


def make_call(model: nn.Module, x: torch.Tensor, *, device: str, threads: int) -> TimedCall:
    model = model.eval().to(device)
    x = x.to(device)
    return lambda: model(x)


def check(target_name: str, device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise AutoKDError(
            f"target '{target_name}' measures on an NVIDIA GPU, but this machine has none that "
            "torch can use (torch.cuda.is_available() is False); choose cpu, cpu-1t or "
            "onnxruntime"
        )


def versions(device: str) -> dict[str, str]:
    if device == "cuda" and torch.cuda.is_available():
        return {"gpu": torch.cuda.get_device_name(), "cuda": str(torch.version.cuda)}
    return {}


BACKEND = Backend(
    name="torch",
    devices=("cpu", "cuda"),
    make_call=make_call,
    check=check,
    versions=versions,
    description="PyTorch eager",
    timed_call="the module's forward, eval mode, under torch.inference_mode",
)
