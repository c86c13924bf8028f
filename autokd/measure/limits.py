"""Bounds that keep every trial finite: how large a student may be, and whether it fits.

A student's size is read from its shapes without allocating it: the family builds it on
PyTorch's `meta` device and one forward pass there gives every layer's output shape. From that:

- parameters: a space whose largest student (every key at its largest) has more than
  `MAX_STUDENT_PARAMS` is refused when the run starts, with the number;
- training memory: weights, gradients and AdamW's two moments (4 copies of the parameters), plus
  every layer's output for one batch, kept for the backward pass, and its gradient (2 copies).
  A trial whose student needs more than `MEMORY_SHARE` of the memory available on its training
  device fails with the figures as its reason, before anything is allocated; the search goes on.
  The same for the latency batch on the target.

The estimate leaves out the allocator's slack and the framework's workspace; it is meant to tell
16 GB from 16 MB, not to pack memory tightly.
"""

from __future__ import annotations

import torch

from autokd.errors import TrialFailed
from autokd.runtime import memory
from autokd.runtime.memory import (  # noqa: F401 - the estimate, named where students use it
    MEMORY_SHARE,
    ModelSize,
    gib,
    inference_bytes,
    training_bytes,
)
from autokd.students import StudentSpec, build_student

MAX_STUDENT_PARAMS = 100_000_000  # a "student" larger than this is a teacher: refused up front
StudentSize = ModelSize  # a student's, read from its shapes (`student_size`)


def student_size(config: StudentSpec) -> StudentSize:
    """Parameters and per-image activations of `config`, from shapes alone (the meta device)."""
    outputs = [0]

    def count(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        outputs[0] += output.numel()

    with torch.device("meta"):
        model = build_student(config).eval()  # (training-mode batch norm refuses one 1x1 image)
        leaves = [m for m in model.modules() if not any(True for _ in m.children())]
        for leaf in leaves:
            leaf.register_forward_hook(count)
        side = config.input_size
        model(torch.empty(1, config.in_channels, side, side))
    return StudentSize(sum(p.numel() for p in model.parameters()), outputs[0])


def check_fits(needed: int, device: str, what: str) -> None:
    """Fail the trial, before anything is allocated, when `needed` bytes cannot fit."""
    available = memory.short_of(needed, device)
    if available is not None:
        raise TrialFailed(
            f"too large: {what} needs about {gib(needed)} of memory, {device} has "
            f"{gib(available)} available (at most {MEMORY_SHARE:.0%} is planned for one trial)"
        )
