"""ExecuTorch with the XNNPACK delegate, float32: the student exported by `torch.export`, lowered
to XNNPACK (`measure.executorch`), run by ExecuTorch's runtime with the target's threads: what a
phone or an ARM board runs, timed here on this machine's CPU."""

from __future__ import annotations

import torch
from torch import nn

from autokd.measure.backends.registry import Backend, TimedCall
from autokd.measure.executorch import load_method, require_executorch, to_pte, versions


def make_call(model: nn.Module, x: torch.Tensor, *, device: str, threads: int) -> TimedCall:
    method = load_method(to_pte(model, x), threads)
    inputs = [x.detach().clone()]
    return lambda: method.execute(inputs)


def check(target_name: str, device: str) -> None:
    require_executorch(f"target '{target_name}' measures with ExecuTorch")


BACKEND = Backend(
    name="executorch",
    devices=("cpu",),
    make_call=make_call,
    check=check,
    versions=lambda device: versions(),
    description="ExecuTorch, XNNPACK delegate, float32",
    timed_call="Method.execute of the lowered .pte program",
)
