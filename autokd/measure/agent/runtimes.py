"""The runtimes an agent offers: each turns a model file (bytes, never a path a request names)
into one zero-argument call on a batch, as the local backend of the same runtime does."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autokd.measure.sessions import openvino_compile_cpu, openvino_offline, ort_cpu_session

Call = Callable[[], Any]


@dataclass(frozen=True)
class Runtime:
    name: str
    formats: tuple[str, ...]  # the model files it loads
    version: Callable[[], str]  # raises ImportError where it is not installed
    load: Callable[[bytes, np.ndarray, int, str | None], Call]  # (model, batch, threads, hint)


def _onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _onnxruntime_call(model: bytes, x: np.ndarray, threads: int, hint: str | None) -> Call:
    session = ort_cpu_session(model, threads)
    feeds = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feeds)


def _openvino_version() -> str:
    return openvino_offline().get_version()


def _openvino_call(model: bytes, x: np.ndarray, threads: int, hint: str | None) -> Call:
    ov = openvino_offline()
    converted = ov.Core().read_model(model, b"")  # ONNX read from memory: nothing on disk
    converted.reshape({0: list(x.shape)})
    request = openvino_compile_cpu(converted, threads, hint or "latency").create_infer_request()
    feeds = {0: x}
    return lambda: request.infer(feeds)


RUNTIMES = {
    runtime.name: runtime
    for runtime in (
        Runtime("onnxruntime", ("onnx",), _onnxruntime_version, _onnxruntime_call),
        Runtime("openvino", ("onnx",), _openvino_version, _openvino_call),
    )
}


@functools.cache
def installed() -> dict[str, str]:
    """The runtimes installed on this device, with their versions."""
    found = {}
    for name, runtime in RUNTIMES.items():
        try:
            found[name] = runtime.version()
        except ImportError:
            continue
    return found
