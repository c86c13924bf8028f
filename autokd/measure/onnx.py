"""The one ONNX export autokd makes (the ONNX Runtime backend times it, `autokd export` ships
it), and ONNX Runtime imported with its telemetry off."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.sessions import ort_cpu_session


def require_onnx(why: str) -> None:
    """Fail with the install command when the `onnx` extra is missing."""
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise AutoKDError(
            f"{why}, which is not installed: pip install 'autokd[onnx]' (from a checkout: "
            "pip install -e '.[onnx]')"
        ) from None


def to_onnx(model: nn.Module, example: torch.Tensor, destination: str | Path | BinaryIO) -> None:
    """Export with torch's ONNX exporter (torch.export based), batch axis dynamic, one file.

    The example is given plain strides: a slice of a one-channel image store has a stride of 1
    on its channel axis (any stride is valid on a size-1 axis), from which torch.export derives
    contradictory bounds for the dynamic batch ("Invalid ranges [2:1]", on Fashion-MNIST)."""
    example = example.clone(memory_format=torch.contiguous_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter announces its own deprecations
        torch.onnx.export(
            model,
            (example,),
            destination if not isinstance(destination, Path) else str(destination),
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),  # by position: any argument name
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def onnx_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """The model as an in-memory ONNX file (`to_onnx`)."""
    buffer = io.BytesIO()
    to_onnx(model.eval(), example, buffer)
    return buffer.getvalue()


cpu_session = ort_cpu_session  # (measure.sessions: the agent on a device opens the same)
