"""Student families: a `StudentConfig` alone rebuilds a student exactly.

Every family returns a module with `forward(x) -> logits` and
`forward_with_features(x) -> (logits, [one feature map per stage])`, plus `feature_channels`:
the stage outputs are the taps that feature distillation aligns with the teacher's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from autokd.config import StageConfig, StudentConfig
from autokd.errors import UnknownNameError

StudentBuilder = Callable[[StudentConfig], nn.Module]
_FAMILIES: dict[str, StudentBuilder] = {}


def register_student(name: str) -> Callable[[StudentBuilder], StudentBuilder]:
    def register(builder: StudentBuilder) -> StudentBuilder:
        _FAMILIES[name] = builder
        return builder

    return register


def list_students() -> list[str]:
    return sorted(_FAMILIES)


def get_student_builder(family: str) -> StudentBuilder:
    if family not in _FAMILIES:
        raise UnknownNameError("student family", family, list_students())
    return _FAMILIES[family]


def build_student(config: StudentConfig) -> nn.Module:
    return get_student_builder(config.family)(config)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


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


class CNNStudent(nn.Module):
    """Stem, then stages of `ConvBlock`s; only each stage's first block may change the stride."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = ConvBlock(config.in_channels, config.stem_width, kernel=3, dilation=1, stride=1)
        stages, cin = [], config.stem_width
        for stage in config.stages:
            stages.append(self._stage(cin, stage))
            cin = stage.width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(cin, config.num_classes)
        self.feature_channels = [s.width for s in config.stages]

    @staticmethod
    def _stage(cin: int, stage: StageConfig) -> nn.Sequential:
        blocks = [
            ConvBlock(
                cin if i == 0 else stage.width,
                stage.width,
                kernel=stage.kernel,
                dilation=stage.dilation,
                stride=stage.stride if i == 0 else 1,
            )
            for i in range(stage.depth)
        ]
        return nn.Sequential(*blocks)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.head(x.mean(dim=(2, 3))), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


@register_student("cnn")
def _build_cnn(config: StudentConfig) -> nn.Module:
    return CNNStudent(config)
