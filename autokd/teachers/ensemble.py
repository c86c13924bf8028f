"""Several teachers as one: `--teacher resnet18 --teacher resnet34:0.5` (or a comma list).

Each member is created, trained or loaded, and cached on its own (`prepare_timm_teacher`).
The ensemble's logits are the members' logits averaged with their weights (1 unless given after a
colon, normalised to sum to 1); its feature maps are those of the first member, so feature terms
align with one architecture. The ensemble is an `nn.Module` with the timm methods autokd reads
(`forward_intermediates`, `forward_head`), so the cached outputs, exports (identified by the
digest of every member's weights) and `autokd train` treat it as any teacher.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from autokd.distill.engine import evaluate
from autokd.errors import AutoKDError
from autokd.runtime.device import Execution
from autokd.teachers.outputs import run_teacher
from autokd.teachers.prepared import PreparedTeacher, weights_digest
from autokd.teachers.timm import prepare_timm_teacher


def parse_teacher_spec(spec: str) -> list[tuple[str, float]]:
    """`resnet18,resnet34:0.5` -> [("resnet18", 1.0), ("resnet34", 0.5)]."""
    members = []
    for part in spec.split(","):
        name, _, weight_text = part.strip().partition(":")
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            weight = -1.0
        if not name or not weight > 0 or weight != weight or weight == float("inf"):
            raise AutoKDError(
                f"teacher '{spec}' must be a timm model name or a comma list of them, each with an "
                "optional positive weight after a colon (resnet18,resnet34:0.5)"
            )
        members.append((name, weight))
    return members


def is_ensemble(spec: str) -> bool:
    members = parse_teacher_spec(spec)
    return len(members) > 1 or members[0][1] != 1.0


class TeacherEnsemble(nn.Module):
    """Members' logits averaged with `weights`; feature maps of the first member."""

    def __init__(self, members: list[nn.Module], weights: list[float]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        total = sum(weights)
        self.register_buffer("weights", torch.tensor([w / total for w in weights]))

    def _logits(self, x: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
        outputs = [first if (i == 0 and first is not None) else m(x)
                   for i, m in enumerate(self.members)]  # fmt: skip
        return sum(w * o.float() for w, o in zip(self.weights, outputs, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(x)

    def forward_intermediates(self, x: torch.Tensor, **_: Any) -> tuple[torch.Tensor, list]:
        first_logits, features = run_teacher(self.members[0], x)
        return self._logits(x, first_logits), features

    def forward_head(self, logits: torch.Tensor) -> torch.Tensor:
        return logits  # forward_intermediates already averaged the heads


def prepare_ensemble(
    spec: str, data: Any, *, weights: Any = None, **options: Any
) -> PreparedTeacher:
    """Every member prepared (trained once and cached, or loaded) on its own, then combined."""
    if weights is not None:
        raise AutoKDError(
            f"--teacher-weights gives one checkpoint, but teacher '{spec}' has several members; "
            "leave it out (each member is trained and cached on its own)"
        )
    started = time.perf_counter()
    members = parse_teacher_spec(spec)
    prepared = [prepare_timm_teacher(name, data, **options) for name, _ in members]
    execution = options.get("execution") or Execution()
    model = TeacherEnsemble([p.model for p in prepared], [w for _, w in members])
    model = model.to(execution.torch_device).eval()
    accuracy = evaluate(model, data.val_x, data.val_y, execution=execution)
    sources = {p.source for p in prepared}
    return PreparedTeacher(
        spec,
        model,
        accuracy,
        sources.pop() if len(sources) == 1 else "mixed",
        weights_digest(model),
        time.perf_counter() - started,
        None,
        members=tuple(prepared),
    )
