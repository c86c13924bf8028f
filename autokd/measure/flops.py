"""FLOPs as fvcore counts them: one fused multiply-add counts as one flop (convolutions, linear
layers); batch norm counts one or two per element; additions, ReLU and the students' mean
pooling count zero. The model is traced in eval mode (batch norm in training mode refuses a
batch of one).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

FLOPS_CONVENTION = (
    "fvcore count: one fused multiply-add = one flop; batch norm 1-2 per element; "
    "additions, ReLU and mean pooling 0"
)


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """fvcore's FLOP count for one input of `input_shape` (C, H, W); see `FLOPS_CONVENTION`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore and torch.jit.trace warn about tracing itself
        from fvcore.nn import FlopCountAnalysis

        model.eval()
        analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())
