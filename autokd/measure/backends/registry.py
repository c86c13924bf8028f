"""The backend registry: `Backend`, registering and looking up (see the package)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autokd.errors import UnknownNameError
from autokd.runtime.plugins import remember_registration

TimedCall = Callable[[], Any]


def _usable_anywhere(target_name: str, device: str) -> None:
    return None


def _no_versions(device: str) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Backend:
    name: str
    devices: tuple[str, ...]
    make_call: Callable[..., TimedCall]  # (model, x, *, device, threads) -> call
    check: Callable[[str, str], None] = _usable_anywhere
    versions: Callable[[str], dict[str, str]] = _no_versions
    description: str = ""


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    _BACKENDS[backend.name] = backend
    remember_registration("backend", backend.name, backend.make_call)
    return backend


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise UnknownNameError("backend", name, list_backends())
    return _BACKENDS[name]
