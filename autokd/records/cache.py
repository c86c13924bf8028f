"""The on-disk cache shared by every run on the machine (teachers, teacher outputs, metrics),
in the folder `Settings.cache_dir` names.

Writes go to a temporary file in the same folder and are renamed into place, so several worker
processes can share the cache: a reader sees a whole entry or none, never half of one. A damaged
entry (edited, truncated by a full disk, garbage) is a miss, never a crash: it is recomputed and
overwritten, and said once on stderr.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autokd.errors import printable


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place. A writer
    that fails with its own error type on a full disk (torch.save's RuntimeError) is turned
    into the OSError it is, and an OSError that names no file (a write's) names `path`: the
    command line says it in one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except RuntimeError as err:
        Path(tmp).unlink(missing_ok=True)
        if "write failed" not in str(err) and "failed writing" not in str(err):
            raise
        raise OSError(errno.ENOSPC, "writing failed: is the disk full?", str(path)) from None
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from None  # a write names no file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def umask() -> int:
    """The process umask, read once (reading it means setting it, briefly)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_SAID: set[Path] = set()


def say_damaged(path: Path, why: str) -> None:
    """One line on stderr, once per file, for a cache entry that is recomputed because it is
    damaged (a run is never stopped by its cache)."""
    if path not in _SAID:
        _SAID.add(path)
        entry, reason = printable(path), printable(why)
        line = f"autokd: cache entry '{entry}' is damaged ({reason}); recomputing it"
        print(line, file=sys.stderr)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


class JsonStore:
    """One small JSON file per key under `<cache>/<namespace>/`; safe with concurrent writers."""

    def __init__(self, namespace: str, *, root: Path) -> None:
        self.folder = Path(root) / namespace

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(
        self, key: str, valid: Callable[[dict[str, Any]], bool] = lambda value: True
    ) -> dict[str, Any] | None:
        """The entry, or None when there is none. An entry that is not a JSON object or fails
        `valid` is damaged: a miss (the caller recomputes and overwrites it), said once."""
        path = self._path(key)
        try:
            value = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:  # unreadable, not JSON, not UTF-8
            say_damaged(path, type(err).__name__)
            return None
        if not isinstance(value, dict) or not valid(value):
            say_damaged(path, "unexpected content")
            return None
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json(self._path(key), value)
