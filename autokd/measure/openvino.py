"""The one OpenVINO conversion autokd makes (the `openvino` and `openvino-int8` backends time it,
`autokd export` ships it), OpenVINO and NNCF imported with their telemetry off, and the CPU
plugin configured as every OpenVINO target runs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.sessions import OPENVINO_HINTS, openvino_compile_cpu, openvino_offline


def require_openvino(why: str, *, nncf: bool = False) -> None:
    """Fail with the install command when the `openvino` extra is missing."""
    try:
        openvino_offline()
        if nncf:
            import nncf as _  # noqa: F401
    except ImportError:
        raise AutoKDError(
            f"{why}, which is not installed: pip install 'autokd[openvino]' (from a checkout: "
            "pip install -e '.[openvino]')"
        ) from None


def to_openvino(model: nn.Module, example: torch.Tensor) -> Any:
    """The model converted from PyTorch (OpenVINO's converter traces it), any batch size."""
    ov = openvino_offline()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace announces its own deprecation
        converted = ov.convert_model(model.eval(), example_input=example)
    converted.reshape({0: [-1, *example.shape[1:]]})
    return converted


def quantize_openvino(converted: Any, calibration: torch.Tensor) -> Any:
    """INT8 through NNCF's post-training quantization, calibrated on `calibration` (one image per
    step), its progress bars and log kept out of the search's output."""
    import nncf

    nncf.set_log_level(logging.ERROR)
    images = [
        calibration[i : i + 1].cpu().numpy().astype(np.float32) for i in range(len(calibration))
    ]
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        return nncf.quantize(converted, nncf.Dataset(images), subset_size=len(images))


HINTS = OPENVINO_HINTS  # a target's `performance_hint`; the first is the default
compile_cpu = openvino_compile_cpu  # (measure.sessions: the agent on a device compiles the same)


def versions() -> dict[str, str]:
    return {"openvino": openvino_offline().get_version()}
