"""The one OpenVINO conversion autokd makes (the `openvino` and `openvino-int8` backends time it,
`autokd export` ships it), OpenVINO and NNCF imported with their telemetry off, and the CPU
plugin configured as every OpenVINO target runs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from autokd.errors import AutoKDError

TELEMETRY = "openvino_telemetry"


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


def openvino_offline() -> Any:
    """OpenVINO with its telemetry off: autokd contacts nothing at run time. OpenVINO's converter
    and NNCF send usage data through `openvino_telemetry` when it imports; blocking that import
    makes both fall back to their own stubs, whatever consent file the machine has."""
    if TELEMETRY not in sys.modules:
        sys.modules[TELEMETRY] = None  # type: ignore[assignment]  # `import` now raises ImportError
    import openvino

    return openvino


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


HINTS = ("latency", "throughput")  # a target's `performance_hint`; the first is the default


def compile_cpu(converted: Any, threads: int, hint: str = HINTS[0]) -> Any:
    """The model compiled by the CPU plugin: `threads` inference threads, the performance
    `hint` (`latency`: one stream, batch-1 latency; `throughput`: as many streams as the plugin
    chooses, for batches) and float32 precision, so that a CPU with bf16 or AMX does not
    silently run the float32 model in bf16."""
    ov = openvino_offline()
    config = {
        "PERFORMANCE_HINT": hint.upper(),
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
    }
    return ov.Core().compile_model(converted, "CPU", config)


def versions() -> dict[str, str]:
    return {"openvino": openvino_offline().get_version()}
