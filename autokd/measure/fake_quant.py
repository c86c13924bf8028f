"""A student with simulated INT8 quantization, for quantization-aware training (`autokd train
--qat`): NNCF inserts fake-quantize operations (symmetric per-channel 8-bit weights, per-tensor
8-bit activations, the scheme the INT8 targets ship) at the places the deployed model
quantizes, with ranges calibrated on the run's calibration images. The module keeps its class
and methods (`forward_with_features` included), so the distillation engine trains it as it
trains any student; the rounding is in the forward pass and its gradient passes straight
through, which teaches the weights to live with it.

After training, `float_weights` gives the weights alone: the target's own converter (the same
one post-training quantization uses) then makes the shipped file, so it has exactly the format
and the runtime of every other deployed model of that target.
"""

from __future__ import annotations

import contextlib
import io
import logging

import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.openvino import openvino_offline

CALIBRATION_BATCH = 32


def fake_quantized(model: nn.Module, calibration: torch.Tensor) -> nn.Module:
    """A copy of the float `model` (eval mode, on the CPU) with fake quantization calibrated on
    the normalised `calibration` images; `model` itself is left as it is."""
    openvino_offline()  # NNCF's telemetry goes through OpenVINO's, which this blocks
    import nncf

    step = CALIBRATION_BATCH
    batches = [calibration[i : i + step] for i in range(0, len(calibration), step)]
    quiet = logging.getLogger("nncf")
    level, quiet.level = quiet.level, logging.ERROR
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return nncf.quantize(
                model.eval(),
                nncf.Dataset(batches),
                subset_size=len(calibration),
            )
    except Exception as err:  # noqa: BLE001 - NNCF raises many types for a model it cannot trace
        raise AutoKDError(f"NNCF could not insert fake quantization: {err}") from None
    finally:
        quiet.level = level


def float_weights(quantized: nn.Module, like: nn.Module) -> dict[str, torch.Tensor]:
    """The trained weights of the fake-quantized module, as a state dict of the plain student
    `like`: NNCF's own quantizer parameters left out."""
    state = quantized.state_dict()
    return {key: state[key].detach().cpu().clone() for key in like.state_dict()}
