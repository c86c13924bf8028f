"""ONNX Runtime and OpenVINO sessions as every autokd target runs them, without PyTorch: the
local backends (`measure.onnx`, `measure.openvino`) and `autokd agent` on a device share them,
so that a student timed here and on the device runs alike."""

from __future__ import annotations

import sys
from typing import Any

OPENVINO_TELEMETRY = "openvino_telemetry"
OPENVINO_HINTS = ("latency", "throughput")  # a target's `performance_hint`; the first: default


def onnxruntime_offline() -> Any:
    """ONNX Runtime with its telemetry turned off: autokd contacts nothing at run time."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime


def ort_cpu_session(model: bytes | str, threads: int) -> Any:
    """An ONNX Runtime session on the CPU provider: `threads` intra-op threads, one inter-op,
    sequential, as every ONNX Runtime target runs."""
    ort = onnxruntime_offline()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def openvino_offline() -> Any:
    """OpenVINO with its telemetry off: autokd contacts nothing at run time. OpenVINO's converter
    and NNCF send usage data through `openvino_telemetry` when it imports; blocking that import
    makes both fall back to their own stubs, whatever consent file the machine has."""
    if OPENVINO_TELEMETRY not in sys.modules:
        sys.modules[OPENVINO_TELEMETRY] = None  # type: ignore[assignment]  # import: ImportError
    import openvino

    return openvino


def openvino_compile_cpu(converted: Any, threads: int, hint: str = OPENVINO_HINTS[0]) -> Any:
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
