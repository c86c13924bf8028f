"""`--latency predict` against `--latency measure`: the same search, the time it saves and the
front it finds.

A cache with the teacher trained (and nothing timed) is made once; each mode then searches from
its own copy of it, so neither finds a latency the other timed. Reported: the search's wall time
and its timing seconds, the students predicted and timed, the predictor's error on those it
predicted before they were timed, and the accuracy-latency hypervolume of each front (both
fronts timed: a predicted student is never on one) against one reference point.

Usage: python benchmarks/predict_search.py [--budget 50] [--target cpu]
Writes benchmarks/results/predict_search.json and prints Markdown for the README. Run it alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
from pathlib import Path

from common import autokd, save_result, work_folder


def front_points(run: Path) -> list[tuple[float, float]]:
    with (run / "trials.csv").open() as table:
        return [(float(r["accuracy"]), float(r["latency_ms"])) for r in csv.DictReader(table)
                if r["state"] == "COMPLETE" and r.get("latency_predicted") != "True"]  # fmt: skip


def main() -> None:
    from autokd.study.pareto import hypervolume_2d

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-predict-")
    warm = work / "cache-warm"
    env = {**os.environ, "AUTOKD_CACHE_DIR": str(warm)}
    autokd("search", "--budget", "1", "--name", "warm", "--quiet", cwd=work, env=env)
    results = {}
    for mode in ("measure", "predict"):
        cache = work / f"cache-{mode}"
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(warm, cache, ignore=shutil.ignore_patterns("metrics"))
        env = {**os.environ, "AUTOKD_CACHE_DIR": str(cache)}
        _, seconds = autokd("search", "--budget", str(args.budget), "--target", args.target,
                            "--name", mode, "--latency", mode, "--quiet", cwd=work,
                            env=env)  # fmt: skip
        summary = json.loads((work / "runs" / mode / "summary.json").read_text())
        results[mode] = {
            "seconds": seconds,
            "measure_s_total": summary["timings"].get("measure_s_total"),
            "search_s": summary["timings"].get("search_s"),
            "latency_prediction": summary.get("latency_prediction"),
            "points": front_points(work / "runs" / mode),
        }
        print(mode, {k: v for k, v in results[mode].items() if k != "points"}, flush=True)
    every = [p for r in results.values() for p in r["points"]]
    reference = (min(a for a, _ in every), 1.1 * max(t for _, t in every))
    for result in results.values():
        result["hypervolume"] = hypervolume_2d(result["points"], ["maximize", "minimize"],
                                               reference)  # fmt: skip
    measure, predict = results["measure"], results["predict"]
    ratio = predict["hypervolume"] / measure["hypervolume"]
    record = predict["latency_prediction"] or {}
    error = record.get("error") or {}
    result = {"budget": args.budget, "target": args.target, "reference": reference,
              "modes": results}  # fmt: skip
    path = save_result("predict_search", result)
    print(f"wrote {path}")
    print(
        f"| `--latency predict` against `measure`, {args.budget} trials on `{args.target}` | "
        f"{record.get('predicted')} of {record.get('predicted', 0) + record.get('timed', 0)} "
        f"latencies predicted; timing {predict['measure_s_total']:.0f} s against "
        f"{measure['measure_s_total']:.0f} s, the search {predict['search_s']:.0f} s against "
        f"{measure['search_s']:.0f} s; hypervolume {ratio:.3f}x; "
        f"the predictor within +-10% for {error.get('within', float('nan')):.0%} of the "
        f"{error.get('tested_on')} it predicted before they were timed (Spearman "
        f"{error.get('spearman') or float('nan'):.2f}) |"
    )


if __name__ == "__main__":
    main()
