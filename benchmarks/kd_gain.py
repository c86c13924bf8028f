"""Acceptance benchmark of `autokd export`, `autokd train` and `autokd validate`.

On the default data: a 50-trial search, its knee student exported, trained for a full schedule
with KD and without (--no-kd), 3 seeds each; then `autokd validate --top-k 5` on the run.
Every step is the command a user would type. Writes benchmarks/results/kd_gain.json and prints
Markdown for the README.
Usage: python benchmarks/kd_gain.py [--budget 50] [--epochs 30] [--seeds 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml
from common import autokd, save_result, work_folder


def run(*args: str, cwd: Path) -> float:
    """One autokd command without progress bars, its output shown; its wall time."""
    quiet = ["--quiet"] if args[0] in ("search", "train", "validate") else []
    stdout, seconds = autokd(*args, *quiet, cwd=cwd)
    print(stdout.strip(), flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-kd-gain-")
    timings = {
        "search_s": run(
            "search", "--budget", str(args.budget), "--target", "cpu", "--name", "kd-gain", cwd=work
        )
    }
    run("export", "runs/kd-gain", "--pick", "knee", "-o", "students/knee", "--force", cwd=work)
    bundle = yaml.safe_load((work / "students/knee/student.yaml").read_text())

    runs = []
    started = time.perf_counter()
    recipes = (
        ([], True, False),
        (["--no-kd"], False, False),
        (["--augment"], True, True),
        (["--augment", "--no-kd"], False, True),
    )
    for seed in range(args.seeds):
        for flags, kd, augment in recipes:
            recipe = f"{'kd' if kd else 'nokd'}-{'aug' if augment else 'plain'}"
            out = f"students/knee/train-{recipe}-s{seed}"
            run(
                "train",
                "students/knee",
                "--epochs",
                str(args.epochs),
                "--seed",
                str(seed),
                "-o",
                out,
                "--force",
                *flags,
                cwd=work,
            )
            result = json.loads((work / out / "result.json").read_text())
            runs.append(
                {
                    "seed": seed,
                    "kd": kd,
                    "augment": augment,
                    "final": result["final_val_accuracy"],
                    "best": result["best_val_accuracy"],
                }
            )
    timings["train_s"] = time.perf_counter() - started
    timings["validate_s"] = run(
        "validate", "runs/kd-gain", "--top-k", "5", "--epochs", str(args.epochs), cwd=work
    )
    validation = json.loads((work / "runs/kd-gain/validation.json").read_text())

    with_kd = [r["final"] for r in runs if r["kd"] and not r["augment"]]
    without = [r["final"] for r in runs if not r["kd"] and not r["augment"]]
    augmented = {
        kd: statistics.mean(r["final"] for r in runs if r["augment"] and r["kd"] == kd)
        for kd in (True, False)
    }
    result = {
        "budget": args.budget,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "knee": {
            "trial": bundle["source"]["trial"],
            "metrics": bundle["metrics"],
            "student": bundle["student"],
            "distill": bundle["distill"],
        },
        "runs": runs,
        "kd_mean": statistics.mean(with_kd),
        "no_kd_mean": statistics.mean(without),
        "kd_gain": statistics.mean(with_kd) - statistics.mean(without),
        "augmented_kd_mean": augmented[True],
        "augmented_no_kd_mean": augmented[False],
        "validation": validation,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "work": str(work),
    }
    save_result("kd_gain", result)

    metrics = bundle["metrics"]
    print(
        f"\nknee student: trial {result['knee']['trial']}, search accuracy "
        f"{metrics['accuracy']:.4f}, {metrics['latency_ms']:.3f} ms"
    )
    print("| seed | with KD | without KD | gain |\n| --- | --- | --- | --- |")
    for seed in range(args.seeds):
        a, b = with_kd[seed], without[seed]
        print(f"| {seed} | {a:.4f} | {b:.4f} | {a - b:+.4f} |")
    print(
        f"| mean | {result['kd_mean']:.4f} | {result['no_kd_mean']:.4f} | "
        f"{result['kd_gain']:+.4f} |"
    )
    print(f"with --augment: KD {augmented[True]:.4f}, without {augmented[False]:.4f}")
    tau = validation["kendall_tau"]
    print(f"validate --top-k 5: Kendall tau {tau}, mean KD gain {validation['mean_kd_gain']:+.4f}")


if __name__ == "__main__":
    main()
