"""What the benchmark scripts share: running autokd as a user would, and saving results."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def autokd(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run one `autokd` command; its stdout and wall time. A failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(["autokd", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"autokd {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout, time.perf_counter() - started


def save_result(name: str, result: dict[str, Any]) -> Path:
    """benchmarks/results/<name>.json, the numbers the README quotes."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def work_folder(given: Path | None, prefix: str) -> Path:
    """The benchmark's working folder: --work, or a new temporary one."""
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    return work


def search_once(work: Path, name: str, *flags: str) -> tuple[str, float]:
    """`autokd search --name NAME FLAGS` in `work`, or the run already there: what it said and
    its wall time (kept beside the run, so that a rerun of the benchmark only reads)."""
    said = work / "runs" / f"{name}.said.json"
    if not (work / "runs" / name / "summary.json").is_file():
        said.write_text(json.dumps(autokd("search", "--name", name, *flags, cwd=work)))
    stdout, seconds = json.loads(said.read_text())
    return stdout, seconds
