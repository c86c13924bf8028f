"""Feature distillation: which teacher level each student stage imitates, and the adapters.

A student stage's map (C_s, H_s, W_s) meets the teacher's (C_t, H_t, W_t) through the chosen
feature term (`autokd.distill.terms`). A term with an adapter (FitNets) first brings the map to the
teacher's channels with a learned 1x1 convolution + BatchNorm, then to its grid by average pooling
or bilinear upsampling; a term without (AT, RKD) compares maps of any channel count itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from autokd.distill.align import align_spatial
from autokd.distill.terms import FEATURES, FeatureTerm, get_term

__all__ = ["FeatureAdapter", "FeatureDistiller", "align_spatial", "teacher_level_for_stage"]


def teacher_level_for_stage(stage: int, num_stages: int, num_levels: int) -> int:
    """Map student stage `stage` (0-based) of `num_stages` onto teacher levels by relative depth.

    The last stage always meets the teacher's last level; earlier stages spread over the rest, so a
    2-stage student of a 5-level ResNet imitates levels 2 and 4, a 4-stage one levels 1 to 4.
    """
    level = math.ceil((stage + 1) * num_levels / num_stages) - 1
    return min(num_levels - 1, max(0, level))


class FeatureAdapter(nn.Module):
    """1x1 conv + BN from the student's channels to the teacher's, and spatial alignment.

    A larger student map is pooled before the projection, a smaller one upsampled after it, so the
    projection always runs on the smaller grid. (Pooling and a 1x1 convolution commute; the
    BatchNorm after the projection then takes its statistics from the pooled map.)
    """

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(teacher_channels)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if x.shape[-2] > size[0] and x.shape[-1] > size[1]:
            x = align_spatial(x, size)
        return align_spatial(self.bn(self.proj(x)), size)


class FeatureDistiller(nn.Module):
    """The weighted feature terms of one student: one per stage whose weight is above 0, each
    with an adapter when its term needs one."""

    def __init__(
        self,
        student_channels: list[int],
        teacher_shapes: list[tuple[int, int, int]],
        weights: tuple[float, ...],
        term: FeatureTerm | str = "fitnets",
        settings: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if len(weights) != len(student_channels):
            raise ValueError(
                f"one feature weight per student stage is needed, but got {len(weights)} weights "
                f"for {len(student_channels)} stages"
            )
        self.term = get_term(FEATURES, term) if isinstance(term, str) else term
        self.settings = dict(settings or {})
        self.stages: list[int] = []
        self.levels: list[int] = []
        self.weights: list[float] = []
        adapters: list[nn.Module] = []
        for stage, weight in enumerate(weights):
            if weight <= 0:
                continue
            level = teacher_level_for_stage(stage, len(student_channels), len(teacher_shapes))
            self.stages.append(stage)
            self.levels.append(level)
            self.weights.append(float(weight))
            if self.term.adapter:
                adapters.append(FeatureAdapter(student_channels[stage], teacher_shapes[level][0]))
        self.adapters = nn.ModuleList(adapters)

    def forward(
        self, student_features: list[torch.Tensor], teacher_features: list[torch.Tensor]
    ) -> torch.Tensor:
        """Weighted sum of the terms; `teacher_features` holds the maps of `self.levels`."""
        total = student_features[0].new_zeros(())
        for i, (stage, weight, target) in enumerate(
            zip(self.stages, self.weights, teacher_features, strict=True)
        ):
            student = student_features[stage]
            if self.term.adapter:
                student = self.adapters[i](student, tuple(target.shape[-2:]))
            total = total + weight * self.term.loss(student, target, **self.settings)
        return total
