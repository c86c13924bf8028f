"""The backend registry: `Backend`, registering and looking up (see the package)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autokd.runtime.registry import Registry

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


BACKENDS: Registry[Backend] = Registry("backend")


def register_backend(backend: Backend) -> Backend:
    return BACKENDS.add(backend.name, backend, defined_by=backend.make_call)


def list_backends() -> list[str]:
    return BACKENDS.names()


def get_backend(name: str) -> Backend:
    return BACKENDS.get(name)
