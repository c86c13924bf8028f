"""Acceptance benchmark of `autokd search --budget 50 --target cpu` on the default data.

Three runs of the same command, each as a new user would type it, in a fresh cache folder:
  cold           nothing cached: the teacher is trained, every architecture traced and timed
  teacher-cached the teacher and its outputs cached, per-architecture metrics dropped
  all-cached     the same command again: teacher and per-architecture FLOPs/latency cached

Writes benchmarks/results/search_time.json and prints a Markdown table for the README.
Usage: python benchmarks/search_time.py [--budget 50] [--target cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from common import autokd, save_result


def search(work: Path, cache: Path, name: str, budget: int, target: str) -> dict:
    env = {**os.environ, "AUTOKD_CACHE_DIR": str(cache)}
    args = ("search", "--budget", str(budget), "--target", target, "--name", name, "--quiet")
    _, wall = autokd(*args, cwd=work, env=env)
    summary = json.loads((work / "runs" / name / "summary.json").read_text())
    return {
        "name": name,
        "wall_s": round(wall, 1),
        "pareto_size": summary["pareto_size"],
        "best_accuracy": summary["best_accuracy"],
        "teacher_accuracy": summary["teacher"]["accuracy"],
        "teacher_source": summary["teacher"]["source"],
        "timings": summary["timings"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--target", default="cpu")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-bench-"))
    cache = work / "cache"
    runs = [search(work, cache, "cold", args.budget, args.target)]
    shutil.rmtree(cache / "metrics")
    runs.append(search(work, cache, "teacher-cached", args.budget, args.target))
    runs.append(search(work, cache, "all-cached", args.budget, args.target))
    result = {
        "command": f"autokd search --budget {args.budget} --target {args.target}",
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "runs": runs,
    }
    save_result("search_time", result)

    print("| run | wall time | teacher | trials: measure / train (s) | front | best acc |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in runs:
        t = run["timings"]
        print(
            f"| {run['name']} | {run['wall_s']:.0f} s | {run['teacher_source']} "
            f"{t['teacher_s']:.0f} s | {t['measure_s_total']:.0f} / {t['train_s_total']:.0f} | "
            f"{run['pareto_size']} | {run['best_accuracy']:.4f} |"
        )
    print(f"teacher accuracy {runs[0]['teacher_accuracy']:.4f}; work folder {work}")


if __name__ == "__main__":
    main()
