"""What the benchmark scripts share: running autokd as a user would, and saving results."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BUSY = [sys.executable, "-c", "while True: pass"]  # the program busy-machine runs sit beside


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
    run, said = work / "runs" / name, work / "runs" / f"{name}.said.json"
    if not run.exists():
        said.write_text(json.dumps(autokd("search", "--name", name, *flags, cwd=work)))
    elif not said.is_file() or not (run / "summary.json").is_file():
        # a continued run's wall time would be the continuation's alone
        sys.exit(f"{run} is there without its finished search's wall time: remove it and rerun")
    stdout, seconds = json.loads(said.read_text())
    return stdout, seconds


def complete(run: Path) -> list[dict[str, str]]:
    """The COMPLETE rows of a run's trials.csv."""
    with (run / "trials.csv").open() as f:
        return [r for r in csv.DictReader(f) if r["state"] == "COMPLETE"]


def hypervolumes(runs: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, float]]:
    """Accuracy-FLOPs and accuracy-latency hypervolume of each run, one reference for all: a
    tenth of each range worse than the worst value over every run (as `autokd compare`)."""
    import numpy as np

    from autokd.study.pareto import hypervolume_2d, pareto_mask

    result: dict[str, dict[str, float]] = {name: {} for name in runs}
    for cost in ("flops", "latency_ms"):
        points = {n: np.array([[float(r["accuracy"]), float(r[cost])] for r in rows])
                  for n, rows in runs.items()}  # fmt: skip
        everything = np.vstack(list(points.values()))
        span = everything.max(axis=0) - everything.min(axis=0)
        reference = (everything[:, 0].min() - 0.1 * span[0], everything[:, 1].max() + 0.1 * span[1])
        for name, p in points.items():
            front = p[pareto_mask(p, ["maximize", "minimize"])]
            result[name][cost] = hypervolume_2d(front, ["maximize", "minimize"], reference)
    return result
