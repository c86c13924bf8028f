"""Hardware targets: where and how latency is measured (hardware/README.md for every field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autokd.errors import ConfigError, unknown_name_message
from autokd.measure.backends import get_backend, list_backends
from autokd.records.params import MAX_INPUT_SIZE
from autokd.records.yamlfiles import (
    TARGETS_FOLDER,
    check_keys,
    description_of,
    file_digest,
    read_yaml_mapping,
    resolve_yaml,
)

_TARGET_KEYS = [
    "description",
    "backend",
    "device",
    "threads",
    "batch_size",
    "input_size",
    "warmup",
    "min_run_time",
    "calibration_images",
    "performance_hint",
]
DEFAULT_CALIBRATION_IMAGES = 256  # of a quantizing backend: seeded training images per run


@dataclass(frozen=True)
class Target:
    """Where and how latency is measured; see hardware/README.md for every field."""

    name: str
    source: str
    description: str
    backend: str
    device: str
    threads: int | None  # None: all physical cores of the machine
    batch_size: int
    input_size: int | None  # None: the data set's input size
    warmup: int
    min_run_time: float
    calibration_images: int = 0  # training images that calibrate INT8 (0: the backend does not)
    performance_hint: str | None = None  # the runtime's (OpenVINO's); None: it takes none
    options: Any = None  # a backend's own keys, parsed (`remote`: its agents); None: it has none
    digest: str = field(default="", compare=False)  # of the file: a rerun must measure alike

    @property
    def quantizes(self) -> bool:
        return get_backend(self.backend).quantizes


# Bounds that keep one latency measurement finite (hardware/README.md, "Fields").
TARGET_BOUNDS = {
    "batch_size": (1, 1024),
    "input_size": (8, MAX_INPUT_SIZE),
    "warmup": (0, 1000),
    "calibration_images": (1, 10_000),
}
MAX_TARGET_THREADS = 1024


def _target_int(path: Path, raw: dict[str, Any], key: str, default: int | None) -> Any:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    low, high = TARGET_BOUNDS[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{path}: key '{key}' must be an integer in [{low}, {high}], got {value!r}"
        )
    return value


def _performance_hint(path: Path, backend: str, value: Any) -> str | None:
    """The target's performance hint: one its backend offers (default: the backend's first);
    refused on a backend that takes none."""
    hints = get_backend(backend).hints
    if not hints:
        if value is not None:
            takers = ", ".join(b for b in list_backends() if get_backend(b).hints)
            raise ConfigError(
                f"{path}: key 'performance_hint': backend '{backend}' takes none; only {takers} do"
            )
        return None
    if value is None:
        return hints[0]
    if value not in hints:
        raise ConfigError(
            f"{path}: key 'performance_hint' must be one of {', '.join(hints)}, got {value!r}"
        )
    return value


def load_target(name_or_path: str | Path | Target) -> Target:
    """Load and validate a hardware target: a shipped name (`cpu`), a path to a YAML file, or a
    `Target` already loaded (returned as it is)."""
    if isinstance(name_or_path, Target):
        return name_or_path
    path = resolve_yaml(TARGETS_FOLDER, name_or_path, kind="target")
    raw = read_yaml_mapping(path)
    check_keys(path, "", raw, _TARGET_KEYS + _backend_keys(raw.get("backend", "torch")))
    return parse_target(path, path.stem, raw, digest=file_digest(path))


def _backend_keys(backend: Any) -> list[str]:
    """The keys a backend adds to a target file (`remote`: url, runtime, token_env, timeout)."""
    if not isinstance(backend, str) or backend not in list_backends():
        return []  # (parse_target says what is wrong with the name)
    elsewhere = get_backend(backend).elsewhere
    return list(elsewhere.keys) if elsewhere else []


def parse_target(path: Path, name: str, raw: Mapping[str, Any], *, digest: str = "") -> Target:
    """A target from its fields (a target file's, or those an exported bundle records: a
    backend's own keys under `options` there)."""
    backend = raw.get("backend", "torch")
    if not isinstance(backend, str) or backend not in list_backends():
        raise ConfigError(
            f"{path}: {unknown_name_message('backend', str(backend), list_backends())}"
        )
    devices = get_backend(backend).devices
    device = raw.get("device", devices[0])
    if not isinstance(device, str) or device not in devices:
        raise ConfigError(
            f"{path}: key 'device': backend '{backend}' runs on {', '.join(devices)}, "
            f"not {device!r}"
        )
    threads = raw.get("threads", "all")
    if threads not in ("all", None) and (
        isinstance(threads, bool)
        or not isinstance(threads, int)
        or not 1 <= threads <= MAX_TARGET_THREADS
    ):
        raise ConfigError(
            f"{path}: key 'threads' must be 'all' or an integer in [1, {MAX_TARGET_THREADS}], "
            f"got {threads!r}"
        )
    min_run_time = raw.get("min_run_time", 0.3)
    if (
        isinstance(min_run_time, bool)
        or not isinstance(min_run_time, (int, float))
        or not (0.01 <= min_run_time <= 60)
    ):
        raise ConfigError(
            f"{path}: key 'min_run_time' must be seconds in [0.01, 60], got {min_run_time!r}"
        )
    quantizes = get_backend(backend).quantizes
    if not quantizes and raw.get("calibration_images") not in (None, 0):
        raise ConfigError(
            f"{path}: key 'calibration_images': backend '{backend}' does not quantize; only "
            f"{', '.join(b for b in list_backends() if get_backend(b).quantizes)} calibrate"
        )
    return Target(
        performance_hint=_performance_hint(path, backend, raw.get("performance_hint")),
        name=name,
        source=str(path),
        description=description_of(path, dict(raw)),
        backend=backend,
        device=device,
        threads=None if threads in ("all", None) else threads,
        batch_size=_target_int(path, dict(raw), "batch_size", 1),
        input_size=_target_int(path, dict(raw), "input_size", None),
        warmup=_target_int(path, dict(raw), "warmup", 10),
        min_run_time=float(min_run_time),
        calibration_images=(
            _target_int(path, dict(raw), "calibration_images", DEFAULT_CALIBRATION_IMAGES)
            if quantizes
            else 0
        ),
        options=_options(path, backend, raw),
        digest=digest,
    )


def _options(path: Path, backend: str, raw: Mapping[str, Any]) -> Any:
    elsewhere = get_backend(backend).elsewhere
    if elsewhere is None:
        return None
    recorded = raw.get("options")
    return elsewhere.parse(path, recorded if isinstance(recorded, Mapping) else raw)
