"""Post-training quantization against quantization-aware fine-tuning, for the knee student of an
INT8 search.

1. `autokd search --target onnxruntime-int8` (one worker, no stopper) and `autokd export` of its
   knee student.
2. `autokd train BUNDLE --epochs E --qat` for each seed: the float32 accuracy after E epochs,
   the deployed (INT8, ONNX Runtime) accuracy of that student quantized after training (PTQ),
   and after E/5 epochs of quantization-aware fine-tuning (QAT), with the time each took.

Usage: python benchmarks/qat.py [--data digits] [--subset N] [--budget 20] [--epochs 30]
       [--seeds 0 1 2] [--work DIR] [--run RUN]   (alone: nothing else running)
`--run` takes the knee of an `onnxruntime-int8` run already made (benchmarks/int8.py's) instead
of searching.
Writes benchmarks/results/qat[_DATA].json and prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml
from common import autokd, save_result, search_once, work_folder


def on_other_target(bundle: Path, output: Path, seed: int, target_name: str) -> dict[str, float]:
    """The trained and the fine-tuned weights of one training deployed on another quantizing
    target, calibrated as `autokd train` calibrates (the images drawn by its seed)."""
    import torch

    from autokd.data import load_identified_data
    from autokd.measure.deployed import calibration_images, deployed_accuracy
    from autokd.measure.targets import load_target
    from autokd.runtime.settings import Settings
    from autokd.workflows.bundle import load_bundle

    described, target = load_bundle(bundle), load_target(target_name)
    data = load_identified_data(described.data, settings=Settings())
    calibration = calibration_images(data, target.calibration_images, seed)
    found = {}
    for key, weights in (("ptq", "student.pt"), ("qat", "qat/student.pt")):
        state = torch.load(output / weights, weights_only=True)
        found[key] = deployed_accuracy(described.student, state, target, calibration, data).accuracy
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--run", type=Path, default=None, help="an onnxruntime-int8 run")
    parser.add_argument("--also", default=None, help="another INT8 target: both weights on it")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-qat-")
    data = ["--data", args.data] + (["--subset", str(args.subset)] if args.subset else [])
    flags = [*data, "--budget", str(args.budget), "--workers", "1", "--pruner", "none"]
    if args.run is None:
        target = ["--target", "onnxruntime-int8"]
        _, search_seconds = search_once(work, "int8", *target, *flags, "--quiet")
        run = work / "runs" / "int8"
    else:
        run = args.run.resolve()  # its wall time is kept beside it, as `search_once` keeps it
        search_seconds = json.loads(run.with_name(f"{run.name}.said.json").read_text())[1]
    bundle = work / "knee"
    if not bundle.is_dir():
        autokd("export", str(run), "--pick", "knee", "-o", str(bundle), cwd=work)
    description = yaml.safe_load((bundle / "student.yaml").read_text())
    trainings = []
    for seed in args.seeds:
        output = work / f"train-s{seed}"
        if not (output / "result.json").is_file():
            train = ["train", str(bundle), "--epochs", str(args.epochs), "--qat", "--force"]
            autokd(*train, "--seed", str(seed), "-o", str(output), "--quiet", cwd=work)
        result = json.loads((output / "result.json").read_text())
        trainings.append(
            {
                "seed": seed,
                "fp32": result["final_val_accuracy"],
                "ptq": result["qat"]["deployed_accuracy_ptq"],
                "qat": result["qat"]["deployed_accuracy"],
                "qat_fake_quant_fp32": result["qat"]["fake_quant_val_accuracy"],
                "qat_epochs": result["qat"]["epochs"],
                "train_seconds": result["train_seconds"],
                "qat_seconds": result["qat"]["seconds"],
                **({"also": on_other_target(bundle, output, seed, args.also)} if args.also else {}),
            }
        )
    mean = {key: statistics.mean(t[key] for t in trainings) for key in ("fp32", "ptq", "qat")}
    result = {
        "data": args.data,
        "subset": args.subset,
        "budget": args.budget,
        "epochs": args.epochs,
        "search_seconds": round(search_seconds, 1),
        "run": str(run),
        "also": args.also,
        "knee": {"trial": description["source"]["trial"], **description["metrics"]},
        "trainings": trainings,
        "mean": mean,
    }
    name = "qat" if args.data == "digits" else f"qat_{args.data.replace('-', '_')}"
    path = save_result(name, result)
    print("| seed | float32 | INT8 after PTQ | INT8 after QAT | QAT epochs | train s | QAT s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for t in trainings:
        print(
            f"| {t['seed']} | {t['fp32']:.4f} | {t['ptq']:.4f} | {t['qat']:.4f} | "
            f"{t['qat_epochs']} | {t['train_seconds']:.1f} | {t['qat_seconds']:.1f} |"
        )
    print(f"| mean | {mean['fp32']:.4f} | {mean['ptq']:.4f} | {mean['qat']:.4f} | | | |")
    for t in trainings if args.also else []:
        also = t["also"]
        print(f"seed {t['seed']} on {args.also}: PTQ {also['ptq']:.4f}, QAT {also['qat']:.4f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
