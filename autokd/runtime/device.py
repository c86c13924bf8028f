"""Where training runs (`--device`) and in what precision (`--precision`).

The training device is independent of the latency target: a search can train on a GPU and
measure latency on `cpu` or `onnxruntime`. On CUDA, training runs under autocast by default:
bfloat16 where the GPU supports it (no gradient scaling needed), float16 with a gradient scaler
elsewhere; `--precision fp32` turns it off. On the CPU training stays float32.

What goes on the GPU: the data set's images and the teacher's cached outputs each go there when
they take at most half of the GPU memory still free (`fits_on`); otherwise they stay in host
memory and each batch is copied over.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from autokd.errors import AutoKDError
from autokd.runtime.cores import NO_LOCK

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
PRECISIONS = ("mixed", "fp32")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Execution:
    """The device a training run uses, its precision (`fp32`, `bf16` or `fp16`: autocast), and
    the machine's core lock it shares the cores through (`runtime.cores`; none: it coordinates
    with no other process)."""

    device: str = "cpu"
    precision: str = "fp32"
    lock: Any = field(default=NO_LOCK, compare=False, repr=False)

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def on_gpu(self) -> bool:
        return self.torch_device.type == "cuda"

    def autocast(self) -> Any:
        """The context the forward pass and the loss run under."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.torch_device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """float16 gradients underflow without scaling; bfloat16 and float32 need none."""
        if self.precision != "fp16":
            return None
        return torch.amp.GradScaler(self.torch_device.type)

    def describe(self) -> str:
        if self.on_gpu:
            return (
                f"{self.device} ({torch.cuda.get_device_name(self.torch_device)}), {self.precision}"
            )
        return f"{self.device}, {self.precision}"

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision}


def resolve_device(requested: str) -> str:
    """`auto`: the first GPU where torch sees one, else the CPU; `cuda` without one: an error."""
    if not _DEVICE.match(requested):
        raise AutoKDError(f"--device {requested!r} is not a device; give {DEVICE_CHOICES}")
    if requested == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise AutoKDError(
            f"--device {requested}: this machine has no GPU that torch can use "
            "(torch.cuda.is_available() is False); use --device cpu or auto"
        )
    index = int(requested.split(":")[1]) if ":" in requested else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise AutoKDError(
            f"--device {requested}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}"
        )
    return f"cuda:{index}"


def resolve_execution(device: str, precision: str = "mixed", *, lock: Any = NO_LOCK) -> Execution:
    """The device `device` names (see `resolve_device`) with `mixed` or `fp32` precision,
    sharing the cores through `lock`."""
    if precision not in PRECISIONS:
        raise AutoKDError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    resolved = resolve_device(device)
    if precision == "fp32" or not resolved.startswith("cuda"):
        return Execution(resolved, "fp32", lock)
    index = torch.device(resolved).index or 0
    bf16 = torch.cuda.get_device_capability(index) >= (8, 0)  # Ampere and later
    return Execution(resolved, "bf16" if bf16 else "fp16", lock)


def gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def fits_on(execution: Execution, nbytes: int) -> bool:
    """Whether `nbytes` of tensors may live on the execution's GPU: at most half of its free
    memory, so that the students' own activations keep room."""
    if not execution.on_gpu:
        return True  # host memory: where the tensors are already
    free, _ = torch.cuda.mem_get_info(execution.torch_device)
    return nbytes <= free // 2


def tensor_bytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)
