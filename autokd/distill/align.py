"""Bringing a student's feature map onto a teacher's grid (shared by the feature losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def align_spatial(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool a larger map down to `size`, bilinearly upsample a smaller one."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
