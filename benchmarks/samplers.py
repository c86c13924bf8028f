"""Optuna's samplers against NNI's tuners: hypervolume and time at the same budget.

For each seed and sampler: `autokd search --budget N --target cpu --sampler S --seed SEED
--pruner P --workers W` (default `--pruner none`, so that every trial trains alike and only the
controller differs; `--workers 1`), as a user would type it. Reports each run's wall time, its
search time (summary.json's `search_s`: without loading data or training a teacher), complete
trials and the accuracy-latency and accuracy-FLOPs hypervolumes from one reference point shared
by every run, then each sampler's means over the seeds. `--data` passes data flags to every
search. A run already in --work is read, not searched again (so seeds can be added to a finished
benchmark).
Writes benchmarks/results/<--result>.json. Run it alone.
Usage: python benchmarks/samplers.py [--budget 50] [--seeds 1] [--samplers tpe nsga2 random
                                     nni-tpe nni-evolution] [--pruner none] [--data FLAGS]
                                     [--workers 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
from pathlib import Path

from common import complete, hypervolumes, save_result, search_once, work_folder

SAMPLERS = ("tpe", "nsga2", "random", "nni-tpe", "nni-evolution")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    parser.add_argument("--pruner", default="none")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--data", default="", help="data flags for every search")
    parser.add_argument("--result", default="samplers", help="name of the results file")
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-samplers-")
    rows, result = {}, {"budget": args.budget, "pruner": args.pruner, "seeds": args.seeds,
                        "workers": args.workers, "data": args.data or "digits",
                        "runs": {}}  # fmt: skip
    for seed in range(args.seeds):
        for sampler in args.samplers:
            name = sampler if seed == 0 else f"{sampler}-s{seed}"  # seed 0: the first benchmark's
            rows[name], result["runs"][name] = search(work, name, sampler, seed, args)
    for name, volumes in hypervolumes(rows).items():
        result["runs"][name]["hypervolume"] = volumes
    result["mean"] = {sampler: _means([r for r in result["runs"].values()
                      if r["sampler"] == sampler]) for sampler in args.samplers}  # fmt: skip
    save_result(args.result, result)
    print(f"means over {args.seeds} seed(s)\n| sampler | wall s | search s | complete "
          "| HV accuracy x latency | HV accuracy x FLOPs | front | best accuracy |\n"
          + "| --- " * 8 + "|")  # fmt: skip
    for sampler, r in result["mean"].items():
        print(f"| {sampler} | {r['wall_s']:.0f} | {r['search_s']:.0f} | {r['complete']:.0f} | "
              f"{r['hv_latency']:.4g} | {r['hv_flops']:.4g} | {r['pareto_size']:.1f} | "
              f"{r['best_accuracy']:.4f} |")  # fmt: skip


def search(work: Path, name: str, sampler: str, seed: int, args: argparse.Namespace) -> tuple:
    """One search (or the one already in `work`): its complete trials and its figures."""
    run = work / "runs" / name
    _, seconds = search_once(work, name, "--budget", str(args.budget), "--target", "cpu",
                             "--sampler", sampler, "--seed", str(seed), "--pruner", args.pruner,
                             "--workers", args.workers, "--quiet",
                             *shlex.split(args.data))  # fmt: skip
    summary = json.loads((run / "summary.json").read_text())
    rows = complete(run)
    return rows, {
        "sampler": sampler,
        "seed": seed,
        "wall_s": round(seconds, 1),
        "search_s": summary["timings"]["search_s"],
        "complete": len(rows),
        "best_accuracy": summary["best_accuracy"],
        "pareto_size": summary["pareto_size"],
    }


def _means(runs: list[dict]) -> dict[str, float]:
    return {
        "wall_s": statistics.mean(r["wall_s"] for r in runs),
        "search_s": statistics.mean(r["search_s"] for r in runs),
        "complete": statistics.mean(r["complete"] for r in runs),
        "hv_latency": statistics.mean(r["hypervolume"]["latency_ms"] for r in runs),
        "hv_flops": statistics.mean(r["hypervolume"]["flops"] for r in runs),
        "pareto_size": statistics.mean(r["pareto_size"] for r in runs),
        "best_accuracy": statistics.mean(r["best_accuracy"] for r in runs),
    }


if __name__ == "__main__":
    main()
