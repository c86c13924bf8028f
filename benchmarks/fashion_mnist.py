"""A search on real data at scale: Fashion-MNIST (Debian's `dataset-fashion-mnist`), 10,000 images.

`autokd search --data fashion-mnist --subset 10000 --budget 50 --target cpu --workers W` in a fresh
cache folder, as a new user would type it: the teacher is trained (its time is reported apart),
then 50 trials. Reports wall time, the teacher's time and accuracy, the time per trial, and the
front (accuracy, latency, FLOPs of every Pareto student).

Needs `apt-get install dataset-fashion-mnist`. Run it alone (README "Performance").
Usage: python benchmarks/fashion_mnist.py [--workers 2] [--budget 50] [--subset 10000]
       [--teacher-epochs 20]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
from pathlib import Path

from common import autokd, save_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="2")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--teacher-epochs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-fmnist-"))
    env = {**os.environ, "AUTOKD_CACHE_DIR": str(work / "cache")}
    command = [
        "search",
        "--data",
        "fashion-mnist",
        "--subset",
        str(args.subset),
        "--budget",
        str(args.budget),
        "--target",
        "cpu",
        "--workers",
        args.workers,
        "--teacher-epochs",
        str(args.teacher_epochs),
        "--name",
        "fmnist",
        "--quiet",
    ]
    stdout, wall = autokd(*command, cwd=work, env=env)
    run = work / "runs" / "fmnist"
    summary = json.loads((run / "summary.json").read_text())
    with (run / "pareto.csv").open() as handle:
        front = [
            {
                "trial": int(row["number"]),
                "accuracy": float(row["accuracy"]),
                "latency_ms": float(row["latency_ms"]),
                "flops": int(row["flops"]),
                "architecture": row["architecture"],
            }
            for row in csv.DictReader(handle)
        ]
    timings = summary["timings"]
    result = {
        "command": "autokd " + " ".join(command[:-1]),
        "wall_s": round(wall, 1),
        "teacher": {
            "seconds": summary["teacher"]["seconds"],
            "accuracy": summary["teacher"]["accuracy"],
            "epochs": args.teacher_epochs,
        },
        "data": {k: summary["data"][k] for k in ("train_images", "val_images", "input_size")},
        "search_s": timings["search_s"],
        "train_s_per_trial": timings.get("train_s_per_trial"),
        "trials": summary["trials"],
        "training": summary["training"],
        "pareto_size": summary["pareto_size"],
        "best_accuracy": summary["best_accuracy"],
        "front": front,
        "stdout": stdout,
    }
    save_result("fashion_mnist", result)
    print(stdout)
    print("| trial | accuracy | latency ms | MFLOPs | architecture |")
    print("| --- | --- | --- | --- | --- |")
    for row in front:
        print(
            f"| {row['trial']} | {row['accuracy']:.4f} | {row['latency_ms']:.3f} | "
            f"{row['flops'] / 1e6:.2f} | `{row['architecture']}` |"
        )
    print(f"work folder {work}")


if __name__ == "__main__":
    main()
