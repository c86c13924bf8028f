"""Optuna's samplers against NNI's tuners: hypervolume and time at the same budget.

For each sampler: `autokd search --budget N --target cpu --sampler S --pruner P` (default
`--pruner none`, so that every trial trains alike and only the controller differs), as a user
would type it. Reports each run's wall time, complete trials and the accuracy-latency and
accuracy-FLOPs hypervolumes from one reference point shared by every run. `--data` passes data
flags to every search. Writes benchmarks/results/<--result>.json. Run it alone.
Usage: python benchmarks/samplers.py [--budget 50] [--samplers tpe nsga2 random nni-tpe
                                     nni-evolution] [--pruner none] [--data FLAGS] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path

from common import autokd, save_result
from families import complete
from loss_menu import hypervolumes

SAMPLERS = ("tpe", "nsga2", "random", "nni-tpe", "nni-evolution")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    parser.add_argument("--pruner", default="none")
    parser.add_argument("--data", default="", help="data flags for every search")
    parser.add_argument("--result", default="samplers", help="name of the results file")
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="autokd-samplers-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, result = {}, {"budget": args.budget, "pruner": args.pruner,
                        "data": args.data or "digits", "runs": {}}  # fmt: skip
    for sampler in args.samplers:
        _, seconds = autokd("search", "--budget", str(args.budget), "--target", "cpu",
                            "--sampler", sampler, "--pruner", args.pruner, "--name", sampler,
                            "--workers", "1", "--quiet", *shlex.split(args.data),
                            cwd=work)  # fmt: skip
        summary = json.loads((work / "runs" / sampler / "summary.json").read_text())
        rows[sampler] = complete(work / "runs" / sampler)
        result["runs"][sampler] = {
            "wall_s": round(seconds, 1),
            "complete": len(rows[sampler]),
            "best_accuracy": summary["best_accuracy"],
            "pareto_size": summary["pareto_size"],
        }
    for sampler, volumes in hypervolumes(rows).items():
        result["runs"][sampler]["hypervolume"] = volumes
    save_result(args.result, result)
    print("| sampler | wall s | complete | HV accuracy x latency | HV accuracy x FLOPs | "
          "front | best accuracy |\n| --- | --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for sampler, r in result["runs"].items():
        print(f"| {sampler} | {r['wall_s']:.0f} | {r['complete']} | "
              f"{r['hypervolume']['latency_ms']:.4g} | {r['hypervolume']['flops']:.4g} | "
              f"{r['pareto_size']} | {r['best_accuracy']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
