"""`backend: remote`: the student timed by `autokd agent` on the device it ships to.

A remote target names the agents (`url:`, one or a list for a farm of identical devices), the
runtime there (`runtime:`, a local backend whose model file the agent runs: `onnxruntime`,
`onnxruntime-int8`, `openvino`), the environment variable that holds the token (`token_env:`,
never the token itself) and how long a measurement may take (`timeout:` seconds, the agent's
queue included). The student is turned into that runtime's file here (ONNX; quantized for
`onnxruntime-int8`) and sent; the agent times it with the same protocol (`measure.protocol`)
and answers with its device's fingerprint, which is what the metrics cache keys the latency by.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autokd.errors import AutoKDError, ConfigError, TrialFailed
from autokd.measure.backends.registry import Backend, Elsewhere, get_backend, list_backends
from autokd.measure.protocol import LatencyMeasurement
from autokd.measure.remote import FINGERPRINT_KEYS, AgentFarm

KEYS = ("url", "runtime", "token_env", "timeout")
DEFAULT_TIMEOUT = 300.0  # seconds a measurement may take, the agent's queue included
TIMEOUT_BOUNDS = (1.0, 3600.0)


@dataclass(frozen=True)
class RemoteOptions:
    urls: tuple[str, ...]
    runtime: str  # the local backend whose model file the agent runs
    token_env: str
    timeout: float = DEFAULT_TIMEOUT

    def to_dict(self) -> dict[str, Any]:
        return {"url": list(self.urls), "runtime": self.runtime, "token_env": self.token_env,
                "timeout": self.timeout}  # fmt: skip


def parse_options(path: Path, raw: Mapping[str, Any]) -> RemoteOptions:
    urls = raw.get("url")
    urls = [urls] if isinstance(urls, str) else urls
    if not urls or not isinstance(urls, list) or not all(_is_url(u) for u in urls):
        raise ConfigError(
            f"{path}: key 'url' must be an agent's http(s)://HOST:PORT, or a list of them, got "
            f"{raw.get('url')!r}"
        )
    runtime = raw.get("runtime")
    runtimes = sendable_runtimes()
    if runtime not in runtimes:
        raise ConfigError(
            f"{path}: key 'runtime' must be one of {', '.join(runtimes)}, got {runtime!r}"
        )
    token_env = raw.get("token_env")
    if not isinstance(token_env, str) or not token_env.isidentifier():
        raise ConfigError(
            f"{path}: key 'token_env' must name the environment variable holding the agent's "
            f"token (e.g. AUTOKD_AGENT_TOKEN), got {token_env!r}"
        )
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    low, high = TIMEOUT_BOUNDS
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (low <= timeout <= high)
    ):
        raise ConfigError(f"{path}: key 'timeout' must be seconds in [{low:g}, {high:g}], "
                          f"got {timeout!r}")  # fmt: skip
    return RemoteOptions(tuple(u.rstrip("/") for u in urls), runtime, token_env, float(timeout))


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and "@" not in value


def sendable_runtimes() -> list[str]:
    """Local backends whose model file an agent can run."""
    return [name for name in list_backends() if get_backend(name).agent_runtime]


def _options(target: Any) -> RemoteOptions:
    return target.options


def _token(options: RemoteOptions) -> str:
    token = os.environ.get(options.token_env, "")
    if not token:
        raise AutoKDError(
            f"the agent's token is not set: export {options.token_env}=TOKEN (the token file "
            "the agent was started with)"
        )
    return token


@functools.cache
def _farm(urls: tuple[str, ...], token: str, timeout: float) -> AgentFarm:
    return AgentFarm(urls, token, timeout=timeout)


def farm(target: Any) -> AgentFarm:
    options = _options(target)
    return _farm(options.urls, _token(options), options.timeout)


@functools.cache
def _checked(urls: tuple[str, ...], token: str, timeout: float, runtime: str) -> dict[str, Any]:
    return _farm(urls, token, timeout).check(runtime)


def device_fingerprint(target: Any) -> dict[str, Any]:
    """The agents' fingerprint, checked once per process (every agent answers, takes the
    token, offers the runtime, and they are identical): raises AutoKDError otherwise."""
    options = _options(target)
    agent_runtime = get_backend(options.runtime).agent_runtime
    return _checked(options.urls, _token(options), options.timeout, agent_runtime)


def check(target: Any) -> None:
    device_fingerprint(target)


def fingerprint(target: Any) -> dict[str, Any]:
    """What the latency depends on besides the architecture: the device, its runtime's
    version, the threads there."""
    device = device_fingerprint(target)
    options = _options(target)
    agent_runtime = get_backend(options.runtime).agent_runtime
    return {
        "agent": {k: device.get(k) for k in ("cpu", "cores", "machine", "system")},
        "runtime": options.runtime,
        "runtime_version": device["runtimes"][agent_runtime],
        "exporter": {"torch": torch.__version__},  # what made the file the agent runs
        "threads": threads_on(target),
    }


def threads_on(target: Any) -> int:
    return target.threads or int(device_fingerprint(target)["cores"])


def measure(model: nn.Module, target: Any, input_shape: tuple[int, int, int]) -> Any:
    options = _options(target)
    local = get_backend(options.runtime)
    x = torch.randn(target.batch_size, *input_shape)
    with torch.inference_mode(False), torch.no_grad():
        artifact = local.artifact(model.eval(), x)
    fields = {
        "runtime": local.agent_runtime,
        "shape": ",".join(str(side) for side in x.shape),
        "threads": threads_on(target),
        "warmup": target.warmup,
        "min_run_time": target.min_run_time,
        **({"hint": target.performance_hint} if target.performance_hint else {}),
    }
    answer = farm(target).measure(artifact, fields)
    checked = device_fingerprint(target)
    if any(answer.fingerprint.get(k) != checked.get(k) for k in FINGERPRINT_KEYS + ("runtimes",)):
        raise TrialFailed(
            f"agent {answer.url} now reports another device or runtime than when the search "
            "began; start the search again so that its latencies come from one device"
        )
    timing = answer.timing
    return LatencyMeasurement(
        median_ms=timing["median_s"] * 1e3,
        iqr_ms=timing["iqr_s"] * 1e3,
        blocks=timing["blocks"],
        calls_per_block=timing["calls_per_block"],
        threads=fields["threads"],
        batch_size=target.batch_size,
        backend=f"remote:{options.runtime}",
        device=f"agent {answer.url}",
        attempts=timing["attempts"],
        noisy=timing["noisy"],
        contended=timing["contended"],
    )


def local_twin(target: Any) -> dict[str, Any]:
    """The same measurement on this machine: the runtime's local backend, the same protocol
    and threads (what `autokd measure` compares the agent with)."""
    options = _options(target)
    fields = {
        "description": f"{options.runtime} on this machine, as {target.name} measures on its agent",
        "backend": options.runtime,
        "threads": threads_on(target),
        "batch_size": target.batch_size,
        "warmup": target.warmup,
        "min_run_time": target.min_run_time,
        **({"input_size": target.input_size} if target.input_size else {}),
    }
    if get_backend(options.runtime).hints and target.performance_hint:
        fields["performance_hint"] = target.performance_hint
    return fields


BACKEND = Backend(
    name="remote",
    devices=("cpu",),
    description="autokd agent on another device, the runtime the target names",
    timed_call="the runtime's call on the device, timed by the agent",
    elsewhere=Elsewhere(
        keys=KEYS,
        parse=parse_options,
        check=check,
        fingerprint=fingerprint,
        threads=threads_on,
        measure=measure,
        local_twin=local_twin,
    ),
)
