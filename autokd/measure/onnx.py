"""The one ONNX export autokd makes (the ONNX Runtime backend times it, `autokd export` ships
it), and ONNX Runtime imported with its telemetry off."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from autokd.errors import AutoKDError


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


def cpu_session(model: bytes | str, threads: int) -> Any:
    """An ONNX Runtime session on the CPU provider: `threads` intra-op threads, one inter-op,
    sequential, as every ONNX Runtime target runs."""
    ort = onnxruntime_offline()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnxruntime_offline() -> Any:
    """ONNX Runtime with its telemetry turned off: autokd contacts nothing at run time."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime
