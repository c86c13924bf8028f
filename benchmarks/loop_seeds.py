"""The default search against the hand-written reference loop, seed by seed.

For each seed: `autokd search --budget 50 --target cpu --seed S` (the default command: auto
workers, the stopper; the teacher cached, per-architecture metrics not) and
`benchmarks/reference_loop.py --seed S` on the same data split and teacher (both follow the seed;
every seed's teacher is trained before anything is timed). Reports each one's time (autokd's
from command to report, the loop's search time) and the hypervolume of its accuracy-FLOPs front
against the loop's reference point, and the means: whether the issue's "within 2x of the loop's
search time at >= its hypervolume" holds beyond one seed's luck.

Run it alone: nothing else may run on the machine meanwhile (README "Performance").
Usage: python benchmarks/loop_seeds.py [--seeds 3] [--budget 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from common import save_result
from workers import reference, search, warm_base_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-loop-seeds-"))
    base_cache = warm_base_cache(work, tuple(range(args.seeds)))  # every seed's teacher cached
    seeds = []
    for seed in range(args.seeds):
        ours = search(work, base_cache, f"seed{seed}", args.budget, ["--seed", str(seed)])
        theirs = reference(base_cache, args.budget, seed)
        seeds.append({
            "seed": seed,
            "autokd_wall_s": ours["wall_s"],
            "autokd_hypervolume": ours["hypervolume_acc_flops"],
            "autokd_complete": ours["complete"],
            "autokd_best_accuracy": ours["best_accuracy"],
            "loop_search_s": theirs["search_s"],
            "loop_wall_s": theirs["wall_s_measured_here"],
            "loop_hypervolume": theirs["hypervolume_acc_flops"],
            "loop_best_accuracy": theirs["best_accuracy"],
        })  # fmt: skip
    mean = {
        key: statistics.mean(s[key] for s in seeds)
        for key in ("autokd_wall_s", "autokd_hypervolume", "loop_search_s", "loop_hypervolume")
    }
    result = {
        "command": f"autokd search --budget {args.budget} --target cpu --seed S",
        "cpus": os.cpu_count(),
        "seeds": seeds,
        "mean": mean,
        "time_ratio": round(mean["autokd_wall_s"] / mean["loop_search_s"], 3),
        "hypervolume_ratio": round(mean["autokd_hypervolume"] / mean["loop_hypervolume"], 4),
    }
    save_result("loop_seeds", result)
    print("| seed | autokd wall | autokd HV (x1e7) | loop search | loop HV (x1e7) |")
    print("| --- | --- | --- | --- | --- |")
    for s in seeds:
        print(f"| {s['seed']} | {s['autokd_wall_s']:.0f} s | {s['autokd_hypervolume'] / 1e7:.3f} "
              f"| {s['loop_search_s']:.0f} s | {s['loop_hypervolume'] / 1e7:.3f} |")  # fmt: skip
    print(f"mean: time {result['time_ratio']:.2f}x, hypervolume {result['hypervolume_ratio']:.4f}x")
    print(f"work folder {work}")


if __name__ == "__main__":
    main()
