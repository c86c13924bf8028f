"""INT8 targets against their float32 counterparts: the search, the drop, the latency, the front.

1. `autokd search --target onnxruntime` (float32) and one search per INT8 target
   (`onnxruntime-int8`, `openvino-int8`, ...), the same seed, data and budget.
2. For each INT8 search: the accuracy drop of every student (float32 minus deployed), and the
   float32 latency of the same architectures on the INT8 target's float32 counterpart
   (`onnxruntime`, `openvino`; timed now, same protocol) against their INT8 latency.
3. The per-trial cost of deploying (exporting, quantizing, evaluating), and its share of the
   search's wall time.
4. The hypervolume (accuracy against latency) of each front in its own deployment's terms,
   one reference point for all.
5. The float32 search's front, quantized: each of its students deployed on each INT8 target
   from its kept weights and timed there, so that both fronts are read in INT8 terms: the
   hypervolume of the quantized float32 front against the INT8 search's own, and how many of
   its students the INT8 front dominates.

Usage (alone: nothing else running):
  python benchmarks/int8.py --budget 20                                    # digits, 1 worker
  python benchmarks/int8.py --data fashion-mnist --subset 10000 --budget 50 --workers 2 \
      --pruner mo-asha --teacher-epochs 10 --targets onnxruntime-int8,openvino-int8
  python benchmarks/int8.py --budget 20 --targets executorch-int8 --name int8_executorch
Writes benchmarks/results/int8[_<data>].json (or --name) and prints Markdown for
docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import complete, hypervolumes, save_result, search_once, work_folder

FLOAT_COUNTERPART = {
    "onnxruntime-int8": "onnxruntime",
    "openvino-int8": "openvino",
    "executorch-int8": "executorch",
}


def latencies_on(rows: list[dict[str, str]], run: Path, target_name: str) -> dict[int, float]:
    """The latency on `target_name` of each row's architecture, timed now on this machine."""
    from autokd.measure.latency import measure_latency
    from autokd.measure.targets import load_target
    from autokd.records.folder import RunFolder, load_study
    from autokd.students import build_student
    from autokd.study.trial import TrialRecord

    study, target = load_study(RunFolder(run)), load_target(target_name)
    found = {}
    for row in rows:
        config = TrialRecord.from_attrs(study.trials[int(row["number"])].user_attrs).student
        shape = (config.in_channels, config.input_size, config.input_size)
        found[int(row["number"])] = measure_latency(build_student(config), target, shape).median_ms
    return found


def quantized_front(run: Path, target_name: str) -> list[dict[str, float]]:
    """The float32 run's front students deployed on `target_name` from their kept weights, with
    their latency there."""
    import torch

    from autokd.data import load_identified_data
    from autokd.measure.deployed import calibration_images, deployed_accuracy
    from autokd.measure.targets import load_target
    from autokd.records.folder import RunFolder, load_study, weights_file
    from autokd.runtime.settings import Settings
    from autokd.study.trial import TrialRecord

    folder, target = RunFolder(run), load_target(target_name)
    study, seed = load_study(folder), folder.read_summary().seed
    data = load_identified_data(folder.data_identity(), settings=Settings())
    calibration = calibration_images(data, target.calibration_images, seed=seed)
    front = [row for row in complete(run) if row["is_pareto"] == "True"]
    latency = latencies_on(front, run, target_name)
    rows = []
    for row in front:
        number = int(row["number"])
        config = TrialRecord.from_attrs(study.trials[number].user_attrs).student
        weights = torch.load(weights_file(folder.weights_dir, number), weights_only=True)
        deployed = deployed_accuracy(config, weights, target, calibration, data)
        rows.append(
            {
                "trial": number,
                "accuracy_fp32": float(row["accuracy"]),
                "accuracy": deployed.accuracy,
                "latency_ms": latency[number],
                "flops": int(row["flops"]),
            }
        )
    return rows


def dominated(point: dict[str, float], front: list[dict[str, str]]) -> bool:
    """Whether a student of `front` is at least as accurate and as fast, and better in one."""
    accuracy, latency = point["accuracy"], point["latency_ms"]
    for row in front:
        a, ms = float(row["accuracy"]), float(row["latency_ms"])
        if a >= accuracy and ms <= latency and (a > accuracy or ms < latency):
            return True
    return False


def int8_search(work: Path, name: str, seconds: float) -> dict:
    """Drop, INT8 against float32 latency and deployment cost of one INT8 search."""
    run = work / "runs" / name
    rows = complete(run)
    fp32_latency = latencies_on(rows, run, FLOAT_COUNTERPART[name])
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
            "flops": int(r["flops"]),
            "deploy_seconds": float(r["deploy_seconds"]),
        }
        for r in rows
    ]
    ratios = [s["latency_int8_ms"] / s["latency_fp32_ms"] for s in students]
    deploy = [s["deploy_seconds"] for s in students]
    drops = [s["drop"] for s in students]
    front = [s for s in students if s["pareto"]]
    return {
        "search_seconds": round(seconds, 1),
        "students": students,
        "int8_over_fp32_latency": {
            "median": statistics.median(ratios),
            "faster": sum(r < 1 for r in ratios),
            "slower": sum(r >= 1 for r in ratios),
            "front_median": statistics.median(
                s["latency_int8_ms"] / s["latency_fp32_ms"] for s in front
            ),
        },
        "drop": {"median": statistics.median(drops), "max": max(drops), "min": min(drops)},
        "front_drop": {"median": statistics.median(s["drop"] for s in front)},
        "deploy_seconds": {
            "median": statistics.median(deploy),
            "total": sum(deploy),
            "share_of_search": sum(deploy) / seconds,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--pruner", default="none")
    parser.add_argument("--teacher-epochs", type=int, default=None)
    parser.add_argument("--targets", default="onnxruntime-int8")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--name", default=None, help="results file (default int8[_<data>])")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-int8-")
    flags = ["--data", args.data, "--budget", str(args.budget), "--workers", args.workers]
    flags += ["--pruner", args.pruner, "--quiet"]
    flags += ["--subset", str(args.subset)] if args.subset else []
    flags += ["--teacher-epochs", str(args.teacher_epochs)] if args.teacher_epochs else []
    targets = args.targets.split(",")
    _, fp32_seconds = search_once(work, "fp32", "--target", "onnxruntime", *flags)
    searches = {name: search_once(work, name, "--target", name, *flags)[1] for name in targets}
    result: dict = {
        "command_flags": flags,
        "budget": args.budget,
        "search_seconds": {"onnxruntime": round(fp32_seconds, 1)},
        "searches": {name: int8_search(work, name, s) for name, s in searches.items()},
    }
    runs = {name: complete(work / "runs" / name) for name in ["fp32", *targets]}
    result["hypervolume_own_terms"] = {
        name: volumes["latency_ms"] for name, volumes in hypervolumes(runs).items()
    }
    fp32_front = work / "runs" / "fp32"
    for name in targets:
        quantized = quantized_front(fp32_front, name)
        own_front = [r for r in runs[name] if r["is_pareto"] == "True"]
        as_rows = [{**q, "is_pareto": "True"} for q in quantized]
        both = hypervolumes({name: own_front, "fp32-front-quantized": as_rows})
        result["searches"][name]["fp32_front_quantized"] = {
            "students": quantized,
            "dominated_by_int8_front": sum(dominated(q, own_front) for q in quantized),
            "hypervolume": both["fp32-front-quantized"]["latency_ms"],
            "int8_front_hypervolume": both[name]["latency_ms"],
        }
    suffix = "" if args.data == "digits" else "_" + args.data.replace("-", "_")
    path = save_result(args.name or f"int8{suffix}", result)
    for name, found in result["searches"].items():
        print(f"\n### {name}\n")
        print("| trial | architecture | front | fp32 acc | INT8 acc | drop | fp32 ms | INT8 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for s in found["students"]:
            architecture = s["architecture"].replace("|", "/")  # not a Markdown cell border
            print(
                f"| {s['trial']} | {architecture} | {'yes' if s['pareto'] else ''} | "
                f"{s['accuracy_fp32']:.4f} | {s['accuracy_int8']:.4f} | {s['drop']:+.4f} | "
                f"{s['latency_fp32_ms']:.3f} | {s['latency_int8_ms']:.3f} |"
            )
        print(found["int8_over_fp32_latency"], found["drop"], found["deploy_seconds"])
        print(found["fp32_front_quantized"])
    print(result["search_seconds"], result["hypervolume_own_terms"])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
