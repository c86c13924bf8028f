"""The loss menu against KD alone, on Fashion-MNIST (Debian's `dataset-fashion-mnist`).

1. Two searches on `--data fashion-mnist --subset 10000`: the `cnn-menu` space (the search
   chooses the logit term, standardization, the feature term, the temperature schedule) and the
   same students with KD alone (`feature_loss: none`, `logit_loss: kd`). Hypervolume of each
   front (accuracy against FLOPs and against latency) from one shared reference point, and which
   terms the menu's front students use.
2. The menu's knee student exported and trained `--epochs` with its chosen terms, with KD alone
   (the bundle's distill section rewritten to KD at the same temperature and alpha) and without
   KD (`--no-kd`), `--seeds` seeds each; two trainings at once, one thread each.
A rerun in the same `--work` folder continues the searches (a finished one runs no trial).

Every step is the command a user would type. Writes benchmarks/results/loss_menu.json.
Usage: python benchmarks/loss_menu.py [--budget 50] [--epochs 30] [--seeds 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from common import ROOT, autokd, complete, hypervolumes, save_result, work_folder

KD_ALONE = {"logit_loss": "kd", "feature_loss": "none", "standardize": False}


def kd_alone_space(work: Path) -> Path:
    """`cnn-menu`'s students and ranges with the menu fixed to KD alone."""
    space = yaml.safe_load((ROOT / "search_spaces" / "cnn-menu.yaml").read_text())
    space["description"] = "cnn-menu's students, distilled with KD alone"
    space["distill"].update(KD_ALONE)
    for key in ("temperature_schedule", "temperature_end"):
        space["distill"].pop(key)
    path = work / "kd-alone.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def front_terms(run: Path) -> list[dict[str, str]]:
    with (run / "pareto.csv").open() as f:
        front = list(csv.DictReader(f))
    keys = ("number", "accuracy", "latency_ms", "flops", "logit_loss", "standardize",
            "feature_loss", "temperature_schedule")  # fmt: skip
    return [{k: row.get(k, "") for k in keys} for row in front]


def train(work: Path, bundle: str, seed: int, epochs: int, out: str, *flags: str) -> float:
    """One `autokd train`, on one thread: PARALLEL of them share the machine's cores."""
    env = {**os.environ, "AUTOKD_THREADS": "1"}
    autokd("train", bundle, "--epochs", str(epochs), "--seed", str(seed), "-o", out, "--force",
           "--quiet", *flags, cwd=work, env=env)  # fmt: skip
    return json.loads((work / out / "result.json").read_text())["final_val_accuracy"]


PARALLEL = 2  # trainings at once (one per physical core of the development machine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teacher-epochs", type=int, default=10)
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-loss-menu-")
    common = ["--data", "fashion-mnist", "--subset", "10000", "--budget", str(args.budget),
              "--target", "cpu", "--teacher-epochs", str(args.teacher_epochs),
              "--quiet"]  # fmt: skip
    seconds = {}
    for name, space in (("menu", "cnn-menu"), ("kd-alone", str(kd_alone_space(work)))):
        _, seconds[name] = autokd("search", "--space", space, "--name", name, *common, cwd=work)
        print(f"search {name}: {seconds[name]:.0f} s", flush=True)
    runs = {name: complete(work / "runs" / name) for name in ("menu", "kd-alone")}

    autokd("export", "runs/menu", "--pick", "knee", "-o", "students/menu", "--force", cwd=work)
    description = yaml.safe_load((work / "students/menu/student.yaml").read_text())
    shutil.copytree(work / "students/menu", work / "students/kd-alone", dirs_exist_ok=True)
    alone = dict(description)
    alone["distill"] = {
        **description["distill"], **KD_ALONE, "settings": {},
        "temperature_schedule": "constant", "temperature_end": None,
        "feature_weights": [0.0] * len(description["distill"]["feature_weights"]),
    }  # fmt: skip
    (work / "students/kd-alone/student.yaml").write_text(yaml.safe_dump(alone, sort_keys=False))
    recipes = (("chosen terms", "students/menu", ()), ("KD alone", "students/kd-alone", ()),
               ("no KD", "students/menu", ("--no-kd",)))  # fmt: skip
    jobs = [(recipe, bundle, seed, flags) for seed in range(args.seeds)
            for recipe, bundle, flags in recipes]  # fmt: skip

    def run_job(job: tuple) -> tuple[str, int, float]:
        recipe, bundle, seed, flags = job
        out = f"trained/{recipe.replace(' ', '-')}-s{seed}"
        accuracy = train(work, bundle, seed, args.epochs, out, *flags)
        print(f"seed {seed} {recipe}: {accuracy:.4f}", flush=True)
        return recipe, seed, accuracy

    with ThreadPoolExecutor(PARALLEL) as pool:
        finished = sorted(pool.map(run_job, jobs), key=lambda r: r[1])
    accuracies: dict[str, list[float]] = {recipe: [] for recipe, _, _ in recipes}
    for recipe, _, accuracy in finished:
        accuracies[recipe].append(accuracy)

    result = {
        "budget": args.budget,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "search_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "complete_trials": {k: len(v) for k, v in runs.items()},
        "hypervolume": hypervolumes(runs),
        "menu_front": front_terms(work / "runs" / "menu"),
        "knee": {
            "trial": description["source"]["trial"],
            "distill": description["distill"],
            "architecture": description["student"],
        },  # fmt: skip
        "trained": accuracies,
        "mean": {k: statistics.mean(v) for k, v in accuracies.items()},
        "spread": {k: max(v) - min(v) for k, v in accuracies.items()},
        "work": str(work),
    }
    save_result("loss_menu", result)
    print(json.dumps({k: result[k] for k in ("hypervolume", "mean", "spread")}, indent=2))
    for row in result["menu_front"]:
        print(row)


if __name__ == "__main__":
    main()
