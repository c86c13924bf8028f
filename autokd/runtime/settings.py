"""The settings autokd reads from the environment, read once at the edge (a CLI command, an API
call) into one `Settings` and passed down from there; nothing deeper reads `os.environ`.

    AUTOKD_CACHE_DIR      the cache shared by every run on the machine (default ~/.cache/autokd):
                          teachers, teacher outputs, FLOPs and latencies, the core lock
    AUTOKD_IN_MEMORY_GB   float32 images up to this size stay in memory as they are; larger
                          data sets are stored as 8-bit pixels (default 2)
    AUTOKD_LOADER_WORKERS DataLoader workers that make 8-bit training batches (default: one per
                          spare core, at most 4; 0: in the training process)
    AUTOKD_THREADS        training threads of every autokd process (default: one per search
                          worker, every physical core for a process that trains alone)
    AUTOKD_PLUGINS        modules to import before any command (your terms and families)
    AUTOKD_STORAGE        the study database of `autokd worker` when --storage is not given
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autokd.errors import AutoKDError

CACHE_VARIABLE = "AUTOKD_CACHE_DIR"
IN_MEMORY_VARIABLE = "AUTOKD_IN_MEMORY_GB"
LOADER_WORKERS_VARIABLE = "AUTOKD_LOADER_WORKERS"
THREADS_VARIABLE = "AUTOKD_THREADS"
PLUGINS_VARIABLE = "AUTOKD_PLUGINS"
STORAGE_VARIABLE = "AUTOKD_STORAGE"

DEFAULT_IN_MEMORY_GB = 2.0
MAX_LOADER_WORKERS = 4
MAX_THREADS = 1024


@dataclass(frozen=True)
class Settings:
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "autokd")
    in_memory_bytes: int = int(DEFAULT_IN_MEMORY_GB * 2**30)
    loader_workers: int | None = None  # None: one per spare core, at most MAX_LOADER_WORKERS
    threads: int | None = None  # None: autokd's choice for each process
    plugins: tuple[str, ...] = ()
    storage: str | None = None

    @property
    def lock_dir(self) -> Path:
        """Where the machine's core lock lives (`runtime.cores`)."""
        return self.cache_dir / "locks"

    def core_lock(self) -> Any:
        """The machine's core lock of this cache folder, opened once per process."""
        from autokd.runtime.cores import core_lock

        return core_lock(self.lock_dir)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings `environ` (default `os.environ`) gives; a bad value is one line naming
        the variable and what it accepts."""
        env = os.environ if environ is None else environ
        cache = env.get(CACHE_VARIABLE) or str(Path.home() / ".cache" / "autokd")
        return cls(
            cache_dir=Path(cache).expanduser(),
            in_memory_bytes=_gigabytes(env.get(IN_MEMORY_VARIABLE)),
            loader_workers=_count(env, LOADER_WORKERS_VARIABLE, 0, 2**31, "a number of workers"),
            threads=_count(env, THREADS_VARIABLE, 1, MAX_THREADS, "a thread count"),
            plugins=tuple(n.strip() for n in env.get(PLUGINS_VARIABLE, "").split(",") if n.strip()),
            storage=env.get(STORAGE_VARIABLE) or None,
        )


def _gigabytes(raw: str | None) -> int:
    raw = raw or str(DEFAULT_IN_MEMORY_GB)
    try:
        gigabytes = float(raw)
    except ValueError:
        gigabytes = -1.0
    if not (math.isfinite(gigabytes) and 0 <= gigabytes <= 2**20):
        raise AutoKDError(
            f"{IN_MEMORY_VARIABLE}={raw!r} is not a size in GiB; give a number from 0 to "
            f"{2**20} (default {DEFAULT_IN_MEMORY_GB})"
        )
    return int(gigabytes * 2**30)


def _count(env: Mapping[str, str], variable: str, low: int, high: int, what: str) -> int | None:
    raw = env.get(variable, "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        allowed = f"{low} or more" if high == 2**31 else f"{low} to {high}"
        raise AutoKDError(f"{variable}={raw!r} is not {what}; give {allowed}")
    return int(raw)
