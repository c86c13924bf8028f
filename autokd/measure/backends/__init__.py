"""Latency backends, registered by name as student families and loss terms are.

A backend turns a student into one zero-argument call that runs a batch on a device; the latency
protocol (`measure.latency`) times that call, the same way for every backend. Each declares:

- `name`, what a target file's `backend:` key says;
- `devices` it runs on (the first is the default);
- `make_call(model, x, device=, threads=)`, the timed call;
- `check(target_name, device)`, raising `AutoKDError` with what to do when this machine cannot
  time on it (an extra not installed, no GPU): called before any work;
- `versions(device)`, the library and device versions a latency depends on, recorded in the
  machine fingerprint (the latency cache key, and what `autokd compare` checks runs agree on);
- `deployed_file`, `write_deployed(model, calibration, path)`, `load_deployed(path, threads)`
  and `precision`, for a backend that quantizes: the file the trained student ships as, whose
  accuracy the search then takes as the objective and `autokd export` ships and checks.

A new backend is one module that calls `register_backend(Backend(...))` when imported (shipped:
`torch_eager`, `onnxruntime_cpu`, `onnxruntime_int8`, `openvino_cpu`, `openvino_int8`,
`executorch_xnnpack`, `executorch_int8`, and `remote`, which sends the model file of one of
them (`artifact`, run by the agent's `agent_runtime`) to `autokd agent` on another device and
measures there (`elsewhere`); a user's own through `AUTOKD_PLUGINS`).
"""

from __future__ import annotations

from autokd.measure.backends import (
    executorch_int8,
    executorch_xnnpack,
    onnxruntime_cpu,
    onnxruntime_int8,
    openvino_cpu,
    openvino_int8,
    remote,
    torch_eager,
)
from autokd.measure.backends.registry import (
    Backend,
    Predict,
    get_backend,
    list_backends,
    register_backend,
)

__all__ = ["Backend", "Predict", "get_backend", "list_backends", "register_backend"]

register_backend(torch_eager.BACKEND)
register_backend(onnxruntime_cpu.BACKEND)
register_backend(onnxruntime_int8.BACKEND)
register_backend(openvino_cpu.BACKEND)
register_backend(openvino_int8.BACKEND)
register_backend(executorch_xnnpack.BACKEND)
register_backend(executorch_int8.BACKEND)
register_backend(remote.BACKEND)
