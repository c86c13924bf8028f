"""The folders a command writes for the user (a bundle, a training): which one may be replaced,
and one writer at a time.

`--force` replaces only what autokd wrote there before, of the same kind: a bundle over a
bundle, a training over a training. A folder that holds a run, the input the command reads (or
a folder around it), or anything else is refused, `--force` or not: an output never swallows
an input. Two commands writing the same folder at once: the second is refused while the first
holds its lock (in the cache's lock folder, keyed by the folder's resolved path, removed when
done: nothing is left behind, in the user's folders or the cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autokd.errors import AutoKDError

RUN_MARKERS = ("study.db", "run.json")  # a folder with one of these holds a run


@dataclass(frozen=True)
class OutputKind:
    name: str  # what it is, in messages: "a bundle", "a training"
    markers: tuple[str, ...]  # files autokd writes into every such folder (any one suffices)
    to_replace: str = "pass --force to replace it"  # said when the folder is not empty


def holds_run(folder: Path) -> bool:
    return any((folder / marker).exists() for marker in RUN_MARKERS)


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(output: Path, kind: OutputKind, *, force: bool, reads: tuple[Path, ...]) -> bool:
    """Refuse an output folder that may not be written, changing nothing; True when it holds an
    earlier output of `kind` that `--force` replaces. `reads`: the inputs of the command (the
    run, the bundle), which the output may lie inside of but never be or contain."""
    if output.exists() and not output.is_dir():
        raise AutoKDError(f"-o '{output}' is a file, not a folder")
    where = output.resolve()
    for source in reads:
        if _within(source.resolve(), where):
            raise AutoKDError(
                f"-o '{output}' is or contains '{source}', which this command reads: write the "
                "output elsewhere"
            )
    if not (output.is_dir() and any(output.iterdir())):
        return False
    if holds_run(output):
        raise AutoKDError(f"-o '{output}' holds a run; write the output elsewhere")
    if not force:
        raise AutoKDError(f"output folder '{output}' exists and is not empty; {kind.to_replace}")
    if not any((output / marker).is_file() for marker in kind.markers):
        raise AutoKDError(
            f"-o '{output}' holds something other than {kind.name} (no "
            f"{' or '.join(kind.markers)}); --force replaces only {kind.name} autokd wrote"
        )
    return True


@contextlib.contextmanager
def writing(output: Path, lock_dir: Path) -> Iterator[None]:
    """Hold the output's lock while writing it; refused at once when another command holds it.
    The lock file is removed when done (a command that opened it just before then finds it
    gone from its path: it had lost the race, and is refused like one that found it held)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:16]
    path = lock_dir / f"output-{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            raise AutoKDError(
                f"another autokd command is writing '{output}' now; wait for it to end, or "
                "write elsewhere"
            ) from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
