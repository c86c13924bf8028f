"""Acceptance benchmark of user data: a 30-trial search on a folder of real images.

The images are scikit-learn's 1,797 handwritten digits written out as 8x8 grey PNG files, one
folder per class: the layout `--data folder:PATH` reads. The search runs at 16x16 like the
default data (`--input-size 16`), in a fresh cache folder (the teacher is trained).
Reports the time per trial, the share of the time spent loading data, and the front.

Usage: python benchmarks/folder_search.py [--budget 30]
Writes benchmarks/results/folder_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
from common import autokd, save_result


def write_digit_pngs(folder: Path) -> int:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for number, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = (image * 255 / 16).round().astype("uint8")
        Image.fromarray(pixels, "L").save(folder / str(label) / f"{number:04d}.png")
    return len(digits.target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-folder-"))
    count = write_digit_pngs(work / "digit-pngs")
    env = {**os.environ, "AUTOKD_CACHE_DIR": str(work / "cache")}
    _, wall = autokd(
        "search",
        "--data",
        f"folder:{work / 'digit-pngs'}",
        "--input-size",
        "16",
        "--budget",
        str(args.budget),
        "--name",
        "pngs",
        "--quiet",
        cwd=work,
        env=env,
    )
    summary = json.loads((work / "runs" / "pngs" / "summary.json").read_text())
    timings = summary["timings"]
    columns = ["number", "accuracy", "latency_ms", "flops", "architecture"]
    front = pd.read_csv(work / "runs" / "pngs" / "pareto.csv")[columns].to_dict("records")
    trials = summary["trials"].get("complete", 0)
    result = {
        "images": count,
        "budget": args.budget,
        "wall_s": round(wall, 1),
        "data_load_s": timings["data_load_s"],
        "teacher_s": timings["teacher_s"],
        "search_s": timings["search_s"],
        "per_trial_s": round(timings["search_s"] / trials, 2),
        "train_s_total": timings["train_s_total"],
        "batch_data_s_total": timings.get("batch_data_s_total"),
        "loading_share_of_run": round(timings["data_load_s"] / timings["this_invocation_s"], 4),
        "batch_share_of_training": round(
            timings.get("batch_data_s_total", 0) / timings["train_s_total"], 4
        ),
        "teacher_accuracy": summary["teacher"]["accuracy"],
        "pareto_size": summary["pareto_size"],
        "best_accuracy": summary["best_accuracy"],
        "front": front,
        "work": str(work),
    }
    save_result("folder_search", result)
    print(json.dumps({k: v for k, v in result.items() if k != "front"}, indent=2))
    for row in front:
        print(row)


if __name__ == "__main__":
    main()
