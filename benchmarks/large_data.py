"""What storing large data sets as 8-bit pixels, batched by DataLoader workers, costs a trial.

Data sets whose float32 images pass `AUTOKD_IN_MEMORY_GB` (default 2) are stored as 8-bit pixels
and their batches are made by DataLoader workers. This benchmark forces that path on real images
(`AUTOKD_IN_MEMORY_GB=0`), with the batches made in the training process
(`AUTOKD_LOADER_WORKERS=0`) and by one worker, and sets it beside the default storage:

1. training alone: one student, 3 epochs, on the digits at 16x16 and upsampled to 64x64, with and
   without random views; seconds per epoch and the share spent waiting for batches;
2. a 10-trial search on the digits written as PNG files (`--data folder:PATH`), each storage in a
   fresh cache folder: time per trial and the share of training spent waiting for batches.

Usage: python benchmarks/large_data.py [--budget 10]
Writes benchmarks/results/large_data.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from common import autokd, save_result
from folder_search import write_digit_pngs

from autokd.data import load_data
from autokd.data.batches import loader_workers
from autokd.distill.config import TrainConfig
from autokd.distill.engine import fit
from autokd.students import build_student
from autokd.students.cnn import StageConfig, StudentConfig

# The settings compared: the default storage, then 8-bit storage with its batches made in the
# training process and by one DataLoader worker.
STORAGES = {
    "in memory (float32)": {},
    "8-bit, batches in process": {"AUTOKD_IN_MEMORY_GB": "0", "AUTOKD_LOADER_WORKERS": "0"},
    "8-bit, 1 DataLoader worker": {"AUTOKD_IN_MEMORY_GB": "0", "AUTOKD_LOADER_WORKERS": "1"},
}
VARIABLES = ("AUTOKD_IN_MEMORY_GB", "AUTOKD_LOADER_WORKERS")


def with_settings(settings: dict[str, str]) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in VARIABLES}, **settings}


def training_alone(size: int, settings: dict[str, str], augment: bool) -> dict[str, float]:
    for variable in VARIABLES:
        os.environ.pop(variable, None)
    os.environ.update(settings)
    started = time.perf_counter()
    data = load_data("digits", input_size=size)
    load_s = time.perf_counter() - started
    config = StudentConfig(
        "cnn",
        data.channels,
        data.classes,
        data.input_size,
        16,
        (StageConfig(1, 16, 3, 1, 1), StageConfig(1, 32, 3, 1, 2), StageConfig(1, 48, 3, 1, 2)),
    )
    torch.manual_seed(0)
    result = fit(build_student(config), data, TrainConfig(epochs=3, lr=0.01, augment=augment))
    return {
        "input_size": size,
        "augment": augment,
        "stored_train_mib": round(data.train_x.pixels.nbytes / 2**20, 2),
        "load_s": round(load_s, 2),
        "seconds_per_epoch": round(result.seconds / result.epochs_run, 3),
        "batch_wait_share": round(result.data_seconds / result.seconds, 4),
        "val_accuracy": round(result.val_accuracy, 4),
    }


def search(work: Path, folder: Path, name: str, settings: dict[str, str], budget: int) -> dict:
    env = {**with_settings(settings), "AUTOKD_CACHE_DIR": str(work / f"cache-{name}")}
    args = ["search", "--data", f"folder:{folder}", "--input-size", "16"]
    _, wall = autokd(*args, "--budget", str(budget), "--name", name, "--quiet", cwd=work, env=env)
    summary = json.loads((work / "runs" / name / "summary.json").read_text())
    timings = summary["timings"]
    trials = summary["trials"].get("complete", 0)
    return {
        "storage": summary["data"]["storage"],
        "wall_s": round(wall, 1),
        "data_load_s": timings["data_load_s"],
        "teacher_s": timings["teacher_s"],
        "per_trial_s": round(timings["search_s"] / trials, 2),
        "train_s_total": timings["train_s_total"],
        "batch_wait_share_of_training": round(
            timings.get("batch_data_s_total", 0) / timings["train_s_total"], 4
        ),
        "best_accuracy": summary["best_accuracy"],
        "pareto_size": summary["pareto_size"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-large-"))
    saved_env = dict(os.environ)
    os.environ["AUTOKD_CACHE_DIR"] = str(work / "cache-training")  # no teacher trains here
    training = {
        label: [
            training_alone(size, settings, augment)
            for size in (16, 64)
            for augment in (False, True)
        ]
        for label, settings in STORAGES.items()
    }
    os.environ.clear()
    os.environ.update(saved_env)
    count = write_digit_pngs(work / "digit-pngs")
    searches = {
        label: search(work, work / "digit-pngs", f"run{i}", settings, args.budget)
        for i, (label, settings) in enumerate(STORAGES.items())
    }
    result = {
        "cpu_count": os.cpu_count(),
        "default_loader_workers": loader_workers(),
        "images": count,
        "budget": args.budget,
        "training_alone": training,
        "search": searches,
        "work": str(work),
    }
    save_result("large_data", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
