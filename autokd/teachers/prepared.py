"""A teacher prepared for a run: its model, accuracy, where it came from and its identity."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autokd.records.summary import TeacherIdentity


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """A hash of named tensors' contents: stored beside cached ones, checked when they are read
    (a flipped byte in a cache file would otherwise be trusted without a word)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(tensors.items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def weights_digest(model: nn.Module) -> str:
    """A hash of the teacher's weights: the identity of its cached outputs and of exports."""
    return tensors_digest(model.state_dict())


@dataclass(frozen=True)
class PreparedTeacher:
    name: str
    model: nn.Module
    accuracy: float  # on the validation split
    source: str  # "trained" now, "cache" (trained by an earlier run), or "file"
    digest: str
    seconds: float  # spent training or loading it in this run
    path: Path | None  # the checkpoint on disk (None for an ensemble)
    members: tuple[PreparedTeacher, ...] = ()  # an ensemble's teachers (teacher_ensemble)

    def identity(self, *, seed: int, epochs: int | None, pretrained: bool) -> TeacherIdentity:
        """What finds this teacher again (its weights' digest checks it is the same): its
        checkpoint, or its training settings (`epochs` None: it came from a checkpoint)."""
        return TeacherIdentity(
            name=self.name,
            weights_digest=self.digest,
            seed=seed,
            accuracy=self.accuracy,
            checkpoint=str(self.path) if self.path else None,
            epochs=epochs,
            pretrained=pretrained,
        )

    def summary(self) -> dict[str, Any]:
        members = {"members": [m.summary() for m in self.members]} if self.members else {}
        return {
            **members,
            "name": self.name,
            "accuracy": self.accuracy,
            "source": self.source,
            "weights_digest": self.digest,
            "seconds": round(self.seconds, 2),
            "checkpoint": str(self.path) if self.path else None,
            "params": sum(p.numel() for p in self.model.parameters()),
        }
