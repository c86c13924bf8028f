"""What training a teacher will cost on this device: said before it trains, refused past a bound.

The teacher is the one model a search trains for long outside any trial's limits: a transformer
the size of ViT-L spends hours on its first epoch on 2 CPU cores. So before it trains:

- memory: weights, gradients and AdamW's two moments (4 copies of the parameters), plus every
  layer's output for one batch and its gradient, the estimate made for students too
  (`runtime.memory.training_bytes`), read from one image's forward pass. Past `MEMORY_SHARE`
  of what the device has free, the run is refused: it could not train anyway.
- time: real training steps on this device, each timed after a warm-up step of its size: on
  2 images, then 8, 32, ... up to the teacher's batch size, stopping at the first step that takes
  `SCALABLE_STEP_SECONDS`. A small model is timed at its real batch; a large one (ViT-L: seconds
  for 2 images) is timed small and scaled by the images, which is what a long step's time grows
  with. An epoch is its steps plus evaluating the validation images (about a third of a
  training step's work each).
  Past the bound (a search's `--teacher-max-minutes`, all epochs together) the run is refused
  with what to change, unless the bound is lifted (0).

The steps train a throwaway copy of the teacher's architecture: the teacher itself is created
again, from its seed, for its real training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autokd.data import DataBundle, iterate_batches
from autokd.errors import AutoKDError
from autokd.runtime import memory
from autokd.runtime.device import Execution
from autokd.runtime.memory import ModelSize, gib, training_bytes

SMALL_BATCH = 2  # images of the first step timed; then GROWTH times more, up to the batch size,
GROWTH = 4  # until a step takes SCALABLE_STEP_SECONDS: its time per image is then (nearly) the
SCALABLE_STEP_SECONDS = 0.25  # full batch's, and the step's fixed overhead no longer counts
EVALUATION_SHARE = 1 / 3  # of a training step's work per image, for a validation image


@dataclass(frozen=True)
class TeacherCost:
    name: str
    epochs: int
    epoch_seconds: float
    memory_bytes: int
    device: str
    timed_batch: int  # the images of the steps timed (the batch size, or SMALL_BATCH scaled up)

    @property
    def total_seconds(self) -> float:
        return self.epoch_seconds * self.epochs

    def describe(self) -> str:
        return (
            f"teacher {self.name} trains {self.epochs} epochs on {self.device}: about "
            f"{duration(self.epoch_seconds)} per epoch, {duration(self.total_seconds)} in all, "
            f"{gib(self.memory_bytes)} of memory (estimated from timed steps)"
        )


def estimate_teacher_cost(
    model: nn.Module, name: str, data: DataBundle, *, epochs: int, batch_size: int,
    execution: Execution,
) -> TeacherCost:  # fmt: skip
    """Time and memory to train `model` (which the steps change: a throwaway) for `epochs`."""
    device = execution.torch_device
    model.to(device, memory_format=torch.channels_last)
    size = _size(model, data, device)
    check_teacher_memory(name, training_bytes(size, batch_size), execution.device)  # before steps
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    timed = min(batch_size, SMALL_BATCH)
    while True:  # batches of 2, 8, 32 ... images until a step is long enough to scale
        seconds = _step_seconds(model, optimizer, data, timed, execution)
        if timed >= batch_size or seconds >= SCALABLE_STEP_SECONDS:
            break
        timed = min(batch_size, GROWTH * timed)
    per_image = seconds / timed
    steps = len(iterate_batches(len(data.train_y), batch_size))
    epoch = per_image * (steps * batch_size + EVALUATION_SHARE * len(data.val_y))
    where = execution.describe()
    where += "" if execution.on_gpu else f", {torch.get_num_threads()} threads"
    return TeacherCost(name, epochs, epoch, training_bytes(size, batch_size), where, timed)


def check_teacher_memory(name: str, needed: int, device: str) -> None:
    """Refuse a teacher whose training cannot fit in the memory `device` has free."""
    available = memory.short_of(needed, device)
    if available is not None:
        raise AutoKDError(
            f"teacher {name} needs about {gib(needed)} of memory to train on {device}, which "
            f"has {gib(available)} available; choose a smaller teacher or a smaller "
            "--input-size, or pass --teacher-weights with a trained one"
        )


def check_teacher_cost(cost: TeacherCost, *, max_minutes: float | None, device: str) -> None:
    """Refuse a teacher that cannot fit in memory, or trains longer than `max_minutes`."""
    check_teacher_memory(cost.name, cost.memory_bytes, device)
    if max_minutes and cost.total_seconds > 60 * max_minutes:
        raise AutoKDError(
            f"teacher {cost.name} would train for about {duration(cost.total_seconds)} "
            f"({duration(cost.epoch_seconds)} per epoch x {cost.epochs} epochs on "
            f"{cost.device}), past --teacher-max-minutes {max_minutes:g}; pass fewer "
            "--teacher-epochs, a smaller teacher or --teacher-weights, or raise "
            "--teacher-max-minutes (0: no bound)"
        )


def _size(model: nn.Module, data: DataBundle, device: torch.device) -> ModelSize:
    """Parameters, and the output elements of every leaf module for one image."""
    outputs = [0]

    def count(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            outputs[0] += output.numel()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [leaf.register_forward_hook(count) for leaf in leaves]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *data.input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return ModelSize(sum(p.numel() for p in model.parameters()), outputs[0])


def _step_seconds(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: DataBundle, images: int,
    execution: Execution,
) -> float:  # fmt: skip
    """Seconds of one training step on `images` random images: the second of two (the first
    warms up the kernels and the allocator)."""
    device = execution.torch_device
    x = torch.randn(images, *data.input_shape, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, data.classes, (images,), device=device)
    model.train()
    seconds = 0.0
    for _ in range(2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        with execution.autocast():
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
    return seconds


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
