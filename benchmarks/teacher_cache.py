"""What caching the teacher's outputs saves: the same trials trained with the teacher's logits
and feature maps looked up from the cache (what `autokd search` does) and with the teacher run
live on every batch.

Writes benchmarks/results/teacher_cache.json and prints a Markdown table for the README.
Usage: python benchmarks/teacher_cache.py [--trials 10] [--epochs 5] [--teacher resnet18]
"""

from __future__ import annotations

import argparse
import statistics
import time

import optuna
import torch
from common import save_result

from autokd.data import load_data
from autokd.distill.config import TrainConfig
from autokd.distill.engine import fit
from autokd.students import build_student
from autokd.study.config import SEARCH_DEFAULTS
from autokd.study.space import load_space, sample_candidate
from autokd.teachers import prepare_teacher
from autokd.teachers.outputs import LiveTeacher, compute_teacher_outputs, teacher_outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--teacher", default="resnet18")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    data = load_data("digits", seed=0)
    teacher = prepare_teacher(args.teacher, data, epochs=SEARCH_DEFAULTS.teacher_epochs, seed=0)
    started = time.perf_counter()
    compute_teacher_outputs(teacher.model, data.train_x)  # what the first run pays, once
    outputs_s = time.perf_counter() - started
    cached, _ = teacher_outputs(teacher, data)
    live = LiveTeacher(teacher.model, data.input_shape)

    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=0), directions=["maximize", "minimize"]
    )
    space = load_space("cnn")
    rows = []
    for number in range(args.trials):
        candidate = sample_candidate(study.ask(), space, data)
        schedule = TrainConfig(epochs=args.epochs, lr=candidate.lr, seed=number)
        row = {"trial": number, "architecture": candidate.student.describe()}
        for label, signal in (("cached", cached), ("live", live)):
            torch.manual_seed(number)
            result = fit(
                build_student(candidate.student), data, schedule, kd=candidate.kd, teacher=signal
            )
            row[f"{label}_s"] = round(result.seconds, 3)
            row[f"{label}_accuracy"] = result.val_accuracy
        rows.append(row)
        print(row, flush=True)

    cached_mean = statistics.mean(r["cached_s"] for r in rows)
    live_mean = statistics.mean(r["live_s"] for r in rows)
    result = {
        "teacher": args.teacher,
        "epochs": args.epochs,
        "trials": rows,
        "teacher_outputs_once_s": round(outputs_s, 3),
        "cached_mean_s": round(cached_mean, 3),
        "live_mean_s": round(live_mean, 3),
        "saved_per_trial_s": round(live_mean - cached_mean, 3),
        "speedup": round(live_mean / cached_mean, 2),
        "same_accuracy": all(r["cached_accuracy"] == r["live_accuracy"] for r in rows),
    }
    save_result("teacher_cache", result)
    print("| teacher signal | train time per trial | for 50 trials |")
    print("| --- | --- | --- |")
    print(f"| cached outputs (autokd) | {cached_mean:.2f} s | {50 * cached_mean:.0f} s |")
    print(f"| teacher run live | {live_mean:.2f} s | {50 * live_mean:.0f} s |")
    print(
        f"outputs computed once in {outputs_s:.2f} s; saving {live_mean - cached_mean:.2f} s per "
        f"trial ({result['speedup']}x); identical accuracies: {result['same_accuracy']}"
    )


if __name__ == "__main__":
    main()
