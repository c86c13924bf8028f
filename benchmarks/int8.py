"""The `onnxruntime-int8` target against float32 `onnxruntime`, on the digits.

1. `autokd search --target onnxruntime` and `--target onnxruntime-int8`, the same seed and
   budget, one worker, no stopper.
2. For the INT8 search: the accuracy drop of every student (float32 minus deployed), and the
   float32 ONNX Runtime latency of the same architectures (timed now, with the same protocol)
   against their INT8 latency: which got faster, which slower.
3. The per-trial cost of deploying (exporting, quantizing, evaluating), and its share of the
   search's wall time.
4. The float32 search's front, quantized: each of its students deployed on the INT8 target from
   its kept weights, so that the two fronts can be read in the same (INT8) terms.

Usage: python benchmarks/int8.py [--budget 20] [--work DIR]   (alone: nothing else running)
Writes benchmarks/results/int8.json and prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import complete, save_result, search_once, work_folder


def float_latencies(rows: list[dict[str, str]], run: Path) -> dict[int, float]:
    """The float32 ONNX Runtime latency of each trial's architecture, on this machine."""
    from autokd.measure.latency import measure_latency
    from autokd.measure.targets import load_target
    from autokd.records.folder import RunFolder, load_study
    from autokd.students import build_student
    from autokd.study.trial import TrialRecord

    study, target = load_study(RunFolder(run)), load_target("onnxruntime")
    found = {}
    for row in rows:
        config = TrialRecord.from_attrs(study.trials[int(row["number"])].user_attrs).student
        shape = (config.in_channels, config.input_size, config.input_size)
        found[int(row["number"])] = measure_latency(build_student(config), target, shape).median_ms
    return found


def quantized_front(run: Path) -> list[dict[str, float]]:
    """The float32 run's front students deployed on the INT8 target from their kept weights."""
    import torch

    from autokd.data import load_data
    from autokd.measure.deployed import calibration_images, deployed_accuracy
    from autokd.measure.targets import load_target
    from autokd.records.folder import RunFolder, load_study, weights_file
    from autokd.study.trial import TrialRecord

    folder, target = RunFolder(run), load_target("onnxruntime-int8")
    study, data = load_study(folder), load_data("digits", seed=0)
    calibration = calibration_images(data, target.calibration_images, seed=0)
    rows = []
    for row in complete(run):
        if row["is_pareto"] != "True":
            continue
        number = int(row["number"])
        config = TrialRecord.from_attrs(study.trials[number].user_attrs).student
        weights = torch.load(weights_file(folder.weights_dir, number), weights_only=True)
        deployed = deployed_accuracy(config, weights, target, calibration, data)
        rows.append({"trial": number, "fp32": float(row["accuracy"]), "int8": deployed.accuracy})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-int8-")
    flags = ["--budget", str(args.budget), "--workers", "1", "--pruner", "none", "--quiet"]
    _, fp32_seconds = search_once(work, "fp32", "--target", "onnxruntime", *flags)
    _, int8_seconds = search_once(work, "int8", "--target", "onnxruntime-int8", *flags)
    rows = complete(work / "runs" / "int8")
    fp32_latency = float_latencies(rows, work / "runs" / "int8")
    students = [
        {
            "trial": int(r["number"]),
            "architecture": r["architecture"],
            "pareto": r["is_pareto"] == "True",
            "accuracy_fp32": float(r["accuracy_fp32"]),
            "accuracy_int8": float(r["accuracy"]),
            "drop": float(r["accuracy_drop"]),
            "latency_fp32_ms": fp32_latency[int(r["number"])],
            "latency_int8_ms": float(r["latency_ms"]),
            "deploy_seconds": float(r["deploy_seconds"]),
        }
        for r in rows
    ]
    ratios = [s["latency_int8_ms"] / s["latency_fp32_ms"] for s in students]
    deploy = [s["deploy_seconds"] for s in students]
    result = {
        "budget": args.budget,
        "search_seconds": {
            "onnxruntime": round(fp32_seconds, 1),
            "onnxruntime-int8": round(int8_seconds, 1),
        },
        "students": students,
        "int8_over_fp32_latency": {
            "median": statistics.median(ratios),
            "faster": sum(r < 1 for r in ratios),
            "slower": sum(r >= 1 for r in ratios),
        },
        "drop": {
            "median": statistics.median(s["drop"] for s in students),
            "max": max(s["drop"] for s in students),
            "min": min(s["drop"] for s in students),
        },
        "deploy_seconds": {"median": statistics.median(deploy), "total": sum(deploy)},
        "fp32_front_quantized": quantized_front(work / "runs" / "fp32"),
    }
    path = save_result("int8", result)
    print("| trial | architecture | front | fp32 acc | INT8 acc | drop | fp32 ms | INT8 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in students:
        print(
            f"| {s['trial']} | {s['architecture']} | {'yes' if s['pareto'] else ''} | "
            f"{s['accuracy_fp32']:.4f} | {s['accuracy_int8']:.4f} | {s['drop']:+.4f} | "
            f"{s['latency_fp32_ms']:.3f} | {s['latency_int8_ms']:.3f} |"
        )
    print(result["int8_over_fp32_latency"], result["drop"], result["deploy_seconds"])
    print(result["search_seconds"], result["fp32_front_quantized"])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
