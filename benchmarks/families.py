"""The `mobile` family against `cnn`, on the `cpu` and the `onnxruntime` fronts.

Four searches on the default data (`autokd search --space S --target T --budget N`, S in cnn and
mobile, T in cpu and onnxruntime), as a user would type them. For each target: the hypervolume of
each family's accuracy-latency and accuracy-FLOPs front from one shared reference point, the front
sizes, and the fastest student at `--good` accuracy or better. `--data` passes data flags to
every search (e.g. "--data fashion-mnist --subset 10000"), `--workers` the search's workers.
With `--remeasure`, only the `cpu` searches run; the onnxruntime fronts are those searches'
trained students timed again on the onnxruntime target (the same accuracies: half the work, for
data sets where a trial takes minutes).
Writes benchmarks/results/<--result>.json and prints Markdown for the README. Run it alone.
Usage: python benchmarks/families.py [--budget 30] [--data FLAGS] [--good 0.95] [--workers 1]
                                     [--remeasure] [--result families] [--work DIR]
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import numpy as np
from common import autokd, complete, hypervolumes, save_result, work_folder

from autokd.study.pareto import pareto_mask

FAMILIES, TARGETS = ("cnn", "mobile"), ("cpu", "onnxruntime")


def study_seconds(run: Path) -> float:
    """From the first trial's start to the last one's end (a rerun that found the budget met
    does not count)."""
    from autokd.records.folder import RunFolder, load_study

    trials = [t for t in load_study(RunFolder(run)).trials if t.datetime_complete]
    start = min(t.datetime_start for t in trials)
    return round((max(t.datetime_complete for t in trials) - start).total_seconds(), 1)


def front_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The students on the accuracy-latency-FLOPs front of `rows`."""
    if not rows:
        return []
    values = np.array([[float(r[k]) for k in ("accuracy", "latency_ms", "flops")] for r in rows])
    mask = pareto_mask(values, ["maximize", "minimize", "minimize"])
    return [r for r, keep in zip(rows, mask, strict=True) if keep]


def remeasured(run: Path, target: str) -> list[dict[str, str]]:
    """The complete students of `run` with their latency on `target` (its own trained accuracy,
    the same FLOPs): what a search on `target` would have measured for them."""
    import optuna

    from autokd.measure.metrics import MetricsCache
    from autokd.measure.targets import load_target
    from autokd.records.folder import RunFolder, load_study
    from autokd.study.trial import TrialRecord

    study, timed, cache = load_study(RunFolder(run)), load_target(target), MetricsCache()
    rows = []
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        student = TrialRecord.from_attrs(trial.user_attrs).student
        metrics = cache.measure(student, timed)
        rows.append({"number": str(trial.number), "accuracy": str(trial.values[0]),
                     "latency_ms": str(metrics.latency.median_ms), "flops": str(metrics.flops),
                     "architecture": trial.user_attrs.get("architecture", "")})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--data", default="", help="data flags for every search")
    parser.add_argument("--good", type=float, default=0.95, help="accuracy a student must reach")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--remeasure", action="store_true", help="search on cpu only")
    parser.add_argument("--result", default="families", help="name of the results file")
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-families-")
    result: dict[str, dict] = {"budget": args.budget, "data": args.data or "digits",
                               "workers": args.workers, "good": args.good}  # fmt: skip
    result["remeasured"] = args.remeasure
    for target in TARGETS:
        rows, seconds = {}, {}
        for family in FAMILIES:
            name = f"{family}-{target}"
            if args.remeasure and target != TARGETS[0]:
                seconds[family] = None
                rows[family] = remeasured(work / "runs" / f"{family}-{TARGETS[0]}", target)
                continue
            _, seconds[family] = autokd("search", "--space", family, "--target", target,
                                        "--budget", str(args.budget), "--name", name, "--quiet",
                                        "--workers", args.workers, *shlex.split(args.data),
                                        cwd=work)  # fmt: skip
            rows[family] = complete(work / "runs" / name)
        volumes = hypervolumes(rows)
        result[target] = {}
        for family in FAMILIES:
            good = [r for r in rows[family] if float(r["accuracy"]) >= args.good]
            fastest = min(good, key=lambda r: float(r["latency_ms"]), default=None)
            front = len(front_rows(rows[family]))
            result[target][family] = {
                "hypervolume": volumes[family],
                "front": front,
                "search_s": None if seconds[family] is None else study_seconds(
                    work / "runs" / f"{family}-{target}"),
                "fastest_good": None if fastest is None else {
                    k: fastest[k] for k in ("accuracy", "latency_ms", "flops", "architecture")},
            }  # fmt: skip
    save_result(args.result, result)
    print("| target | family | HV accuracy x latency | HV accuracy x FLOPs | front | "
          f"fastest >= {args.good} |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for target in TARGETS:
        for family in FAMILIES:
            r = result[target][family]
            best = r["fastest_good"]
            shown = "none" if best is None else (
                f"{float(best['latency_ms']):.3f} ms, {int(best['flops']) / 1e6:.2f} MFLOPs "
                f"({float(best['accuracy']):.3f})")  # fmt: skip
            print(f"| {target} | {family} | {r['hypervolume']['latency_ms']:.4g} | "
                  f"{r['hypervolume']['flops']:.4g} | {r['front']} | {shown} |")  # fmt: skip


if __name__ == "__main__":
    main()
