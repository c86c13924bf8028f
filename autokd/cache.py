"""The on-disk cache shared by every run on the machine (teachers, teacher outputs, metrics).

Writes go to a temporary file in the same folder and are renamed into place, so several worker
processes can share the cache: a reader sees a whole entry or none, never half of one.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_ENV = "AUTOKD_CACHE_DIR"


def cache_dir() -> Path:
    """`$AUTOKD_CACHE_DIR`, or `~/.cache/autokd`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "autokd").expanduser()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def umask() -> int:
    """The process umask, read once (reading it means setting it, briefly)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


class JsonStore:
    """One small JSON file per key under `<cache>/<namespace>/`; safe with concurrent writers."""

    def __init__(self, namespace: str, *, root: Path | None = None) -> None:
        self.folder = (root or cache_dir()) / namespace

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json(self._path(key), value)
