"""Acceptance benchmark of the hardware targets.

1. `autokd measure --target cpu-1t -n 20` (and cpu, onnxruntime): do re-measurements in a fresh
   process agree (share within +-10%, Spearman)?
2. PyTorch CPU against ONNX Runtime: 20 students sampled from the default space, timed on cpu,
   cpu-1t and onnxruntime.
3. `autokd search --budget 50 --target cpu --max-latency-ms M`, M the median latency of those 20
   students on cpu: how many were rejected untrained, and the training time saved.

Usage: python benchmarks/targets.py [-n 20] [--budget 50]
Writes benchmarks/results/targets.json and prints Markdown for the README.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import autokd, save_result


def backend_table(n: int) -> list[dict]:
    from autokd.measure.latency import measure_latency
    from autokd.measure.targets import load_target
    from autokd.students import build_student
    from autokd.study.space import load_space, sample_architectures

    configs = sample_architectures(load_space("cnn"), (1, 16, 16), 10, n, seed=0)
    rows = []
    for config in configs:
        row = {"architecture": config.describe()}
        for name in ("cpu", "cpu-1t", "onnxruntime"):
            measured = measure_latency(build_student(config), load_target(name), (1, 16, 16))
            row[name] = measured.median_ms
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--budget", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-targets-"))
    stability = {}
    for target in ("cpu-1t", "cpu", "onnxruntime"):
        autokd("measure", "--target", target, "-n", str(args.n), "-o", f"{target}.json", cwd=work)
        stability[target] = json.loads((work / f"{target}.json").read_text())
        print(target, stability[target]["within_tolerance"], stability[target]["spearman"])

    rows = backend_table(args.n)
    limit = statistics.median(r["cpu"] for r in rows)
    started = time.perf_counter()
    autokd(
        "search",
        "--budget",
        str(args.budget),
        "--target",
        "cpu",
        "--max-latency-ms",
        f"{limit:.4f}",
        "--name",
        "limited",
        "--quiet",
        cwd=work,
    )
    summary = json.loads((work / "runs" / "limited" / "summary.json").read_text())
    result = {
        "stability": {
            t: {"within_10pct": s["within_tolerance"], "spearman": s["spearman"]}
            for t, s in stability.items()
        },
        "backends": rows,
        "onnxruntime_over_cpu_median": statistics.median(r["onnxruntime"] / r["cpu"] for r in rows),
        "cpu_1t_over_cpu_median": statistics.median(r["cpu-1t"] / r["cpu"] for r in rows),
        "constrained_search": {
            "max_latency_ms": limit,
            "budget": args.budget,
            "wall_s": time.perf_counter() - started,
            "rejected": summary["rejected"],
            "trained": summary["trials"].get("complete", 0),
            "training_saved_s": summary["timings"].get("training_saved_s"),
            "train_s_total": summary["timings"].get("train_s_total"),
            "pareto_size": summary["pareto_size"],
            "best_accuracy": summary["best_accuracy"],
        },
        "work": str(work),
    }
    save_result("targets", result)
    print("| target | within +-10% | Spearman |\n| --- | --- | --- |")
    for target, s in result["stability"].items():
        print(f"| {target} | {s['within_10pct']:.0%} | {s['spearman']:.3f} |")
    print("\n| architecture | cpu ms | cpu-1t ms | onnxruntime ms |\n| --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| `{r['architecture']}` | {r['cpu']:.3f} | {r['cpu-1t']:.3f} | "
            f"{r['onnxruntime']:.3f} |"
        )
    print(json.dumps(result["constrained_search"], indent=2))


if __name__ == "__main__":
    main()
