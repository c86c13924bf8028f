"""The `mobile` family: MobileNetV2-style inverted-residual blocks (Sandler et al. 2018).

Each block expands its input with a 1x1 convolution (`expansion` times the channels), filters each
channel with a depthwise k x k convolution (dilated; the stage's first block carries its stride),
optionally reweights channels by squeeze-and-excitation (Hu et al. 2018), and projects back to
`width` channels with a linear 1x1 convolution; the residual joins where shapes allow.
Space keys: search_spaces/README.md.
"""

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

RULES = {
    "depth": Rule(int, 1, 16, per_stage=True),
    "width": Rule(int, 1, 2048, per_stage=True),
    "expansion": Rule(int, 1, 8, per_stage=True),
    "kernel": Rule(int, 1, 15, per_stage=True, odd=True),
    "dilation": Rule(int, 1, 8, per_stage=True),
    "se": Rule(int, 0, 1, per_stage=True),
}
SE_REDUCTION = 4  # squeeze to a quarter of the expanded channels (at least 8)


@dataclass(frozen=True)
class MobileStage:
    depth: int  # inverted-residual blocks in the stage
    width: int  # output channels of every block
    expansion: int  # hidden channels = expansion x input channels
    kernel: int  # odd size of the depthwise convolution
    dilation: int  # of the depthwise convolution
    se: int  # 1: squeeze-and-excitation after the depthwise convolution
    stride: int  # of the stage's first block


@dataclass(frozen=True)
class MobileConfig(StagedConfig):
    NAME = "mobile"
    STAGE = MobileStage

    family: str
    in_channels: int
    num_classes: int
    input_size: int
    stem_width: int
    stages: tuple[MobileStage, ...]

    def describe(self) -> str:
        """`16 | 2x24 e4 k3 d1 se s1 | ...`: stem width, then each stage."""
        parts = [
            f"{s.depth}x{s.width} e{s.expansion} k{s.kernel} d{s.dilation}"
            + (" se" if s.se else "")
            + f" s{s.stride}"
            for s in self.stages
        ]
        return " | ".join([str(self.stem_width), *parts])


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        reduced = max(8, channels // SE_REDUCTION)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(dim=(2, 3), keepdim=True)
        scale = torch.sigmoid(self.expand(torch.relu(self.reduce(scale))))
        return x * scale


def _conv_bn(cin: int, cout: int, kernel: int = 1, *, stride: int = 1, dilation: int = 1,
             groups: int = 1, act: bool = True) -> list[nn.Module]:  # fmt: skip
    padding = dilation * (kernel - 1) // 2
    layers: list[nn.Module] = [
        nn.Conv2d(
            cin,
            cout,
            kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=False,
        ),  # fmt: skip
        nn.BatchNorm2d(cout),
    ]
    return layers + ([nn.ReLU6(inplace=True)] if act else [])


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stage: MobileStage, stride: int) -> None:
        super().__init__()
        hidden = cin * stage.expansion
        layers = _conv_bn(cin, hidden) if stage.expansion != 1 else []
        layers += _conv_bn(hidden, hidden, stage.kernel, stride=stride, dilation=stage.dilation,
                           groups=hidden)  # fmt: skip
        if stage.se:
            layers.append(SqueezeExcite(hidden))
        layers += _conv_bn(hidden, cout, act=False)  # linear bottleneck: no activation
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class MobileStudent(StagedStudent):
    """3x3 stem, then stages of `InvertedResidual` blocks, global pooling, a linear head."""

    def __init__(self, config: MobileConfig) -> None:
        super().__init__(
            config, nn.Sequential(*_conv_bn(config.in_channels, config.stem_width, 3)),
            InvertedResidual,
        )  # fmt: skip


FAMILY = staged_family(
    "mobile",
    "MobileNetV2-style inverted residuals: expansion, depthwise kxk, optional SE",
    "stem width | per stage: depth x width, expansion, kernel, dilation, SE, stride",
    MobileConfig,
    RULES,
    MobileStudent,
)
