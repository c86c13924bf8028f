"""The `cnn` family: a stem, then stages of k x k convolutions (dilated, residual where shapes
allow), global average pooling and a linear head. Space keys: search_spaces/README.md."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autokd.records.params import Rule
from autokd.students.staged import (
    StagedConfig,
    StagedStudent,
    staged_family,
)

# The per-stage keys of a `cnn` space file, in sampling order, with what each accepts.
RULES = {
    "depth": Rule(int, 1, 16, per_stage=True),
    "width": Rule(int, 1, 2048, per_stage=True),
    "kernel": Rule(int, 1, 15, per_stage=True, odd=True),
    "dilation": Rule(int, 1, 8, per_stage=True),
}


@dataclass(frozen=True)
class StageConfig:
    depth: int  # blocks in the stage
    width: int  # output channels of every block in the stage
    kernel: int  # odd kernel size of every convolution in the stage
    dilation: int  # dilation of every convolution in the stage
    stride: int  # stride of the stage's first block (1 keeps resolution, 2 halves it)


@dataclass(frozen=True)
class StudentConfig(StagedConfig):
    """Everything needed to rebuild a `cnn` student exactly; `arch_hash` keys per-architecture
    caches."""

    NAME = "cnn"
    STAGE = StageConfig

    family: str
    in_channels: int
    num_classes: int
    input_size: int
    stem_width: int
    stages: tuple[StageConfig, ...]

    def describe(self) -> str:
        """`16 | 1x24 k3 d1 s1 | 2x32 k5 d2 s2` : stem width, then depth x width per stage."""
        parts = [f"{s.depth}x{s.width} k{s.kernel} d{s.dilation} s{s.stride}" for s in self.stages]
        return " | ".join([str(self.stem_width), *parts])


class ConvBlock(nn.Module):
    """k x k convolution (dilated, 'same' padding) -> BN -> ReLU, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, *, kernel: int, dilation: int, stride: int) -> None:
        super().__init__()
        padding = dilation * (kernel - 1) // 2
        self.conv = nn.Conv2d(
            cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, bias=False
        )
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        return self.act(out + x if self.residual else out)


class CNNStudent(StagedStudent):
    """3x3 stem, then stages of `ConvBlock`s, global pooling, a linear head."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__(
            config,
            ConvBlock(config.in_channels, config.stem_width, kernel=3, dilation=1, stride=1),
            lambda cin, cout, stage, stride: ConvBlock(
                cin, cout, kernel=stage.kernel, dilation=stage.dilation, stride=stride
            ),
        )


FAMILY = staged_family(
    "cnn",
    "stages of k x k convolutions (dilated, residual where shapes allow)",
    "stem width | per stage: depth x width, kernel, dilation, stride",
    StudentConfig,
    RULES,
    CNNStudent,
)
