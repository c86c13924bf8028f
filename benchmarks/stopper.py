"""The early stopper against none: hypervolume against wall time, students stopped, epochs saved.

For each seed: `autokd search --budget N --target cpu --seed S` with `--pruner mo-asha` and with
`--pruner none` (same data, teacher, sampler seed), as a user would type them. Reports, per run,
the wall time and the search time (summary.json's `search_s`: the trials, without the teacher,
which the first run of a seed trains and the second finds cached; ratios use it), the
accuracy-latency and accuracy-FLOPs hypervolumes (one reference point over every run of the
benchmark), the students stopped and the epochs of training saved; then the means over seeds
and the ratios (stopper / none). With `--validate E`, also `autokd validate
--top-k 5 --epochs E` on the runs of the `--validate-pruners` (default both): Kendall tau between
the search's ranking and E-epoch training (a validation already done is read, whatever the flags).
`--data` passes data flags to every search (e.g. "--data fashion-mnist --subset 10000
--teacher-epochs 10"). Also the run without the stopper at the search time the stopper's run took
(`at_stopper_time`: its front from the trials complete by then, as a fraction of its final
hypervolume). A run already in --work is read, not searched again (so seeds can be added to a
finished benchmark). Writes benchmarks/results/<--result>.json. Run it alone.
Usage: python benchmarks/stopper.py [--budget 50] [--seeds 3] [--data FLAGS] [--workers 1]
                                    [--validate 0] [--validate-pruners mo-asha none]
                                    [--result stopper] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
from pathlib import Path

from common import autokd, complete, hypervolumes, save_result, search_once, work_folder

PRUNERS = ("mo-asha", "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default="", help="data flags for every search")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--validate", type=int, default=0, help="epochs of validate (0: skip)")
    parser.add_argument("--validate-pruners", nargs="+", choices=PRUNERS, default=list(PRUNERS))
    parser.add_argument("--result", default="stopper", help="name of the results file")
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-stopper-")
    runs, result = {}, {"budget": args.budget, "data": args.data or "digits",
                        "workers": args.workers, "runs": {}}  # fmt: skip
    for seed in range(args.seeds):
        for pruner in PRUNERS:
            name = f"{pruner}-s{seed}"
            stdout, seconds = search_once(work, name, "--budget", str(args.budget), "--target",
                                          "cpu", "--seed", str(seed), "--pruner", pruner,
                                          "--workers", args.workers, "--quiet",
                                          *shlex.split(args.data))  # fmt: skip
            summary = json.loads((work / "runs" / name / "summary.json").read_text())
            runs[name] = complete(work / "runs" / name)
            result["runs"][name] = {
                "pruner": pruner,
                "seed": seed,
                "wall_s": round(seconds, 1),
                "search_s": summary["timings"]["search_s"],
                "complete": len(runs[name]),
                "stopped": summary["stopped"],
                "epochs_saved": summary["epochs_saved"],
                "best_accuracy": summary["best_accuracy"],
                "said": stdout.strip().splitlines()[:3],  # what the user saw at the end
            }
            validation = work / "runs" / name / "validation.json"
            if args.validate and pruner in args.validate_pruners and not validation.is_file():
                autokd("validate", f"runs/{name}", "--top-k", "5", "--epochs", str(args.validate),
                       "--workers", args.workers, "--quiet", cwd=work)  # fmt: skip
            if validation.is_file():
                tau = json.loads(validation.read_text())["kendall_tau"]
                result["runs"][name]["kendall_tau"] = tau
    early = {  # the run without the stopper as it stood when the stopper's run ended
        f"none-s{seed}@stopper": finished_by(work / "runs" / f"none-s{seed}", runs[f"none-s{seed}"],
                                             result["runs"][f"mo-asha-s{seed}"]["search_s"])
        for seed in range(args.seeds)
    }  # fmt: skip
    volumes = hypervolumes({**runs, **early})  # subsets: the shared reference does not move
    for name in runs:
        result["runs"][name]["hypervolume"] = volumes[name]
    for seed in range(args.seeds):
        final, then = volumes[f"none-s{seed}"], volumes[f"none-s{seed}@stopper"]
        result["runs"][f"none-s{seed}"]["at_stopper_time"] = {
            cost: round(then[cost] / final[cost], 3) for cost in final}  # fmt: skip
    result["mean"] = {pruner: _means([r for r in result["runs"].values() if r["pruner"] == pruner])
                      for pruner in PRUNERS}  # fmt: skip
    on, off = result["mean"]["mo-asha"], result["mean"]["none"]
    result["ratio"] = {key: round(on[key] / off[key], 3) for key in ("search_s", "hv_latency",
                       "hv_flops") if off[key]}  # fmt: skip
    save_result(args.result, result)
    print("| pruner | search s | HV accuracy x latency | HV accuracy x FLOPs | stopped | "
          "epochs saved | best accuracy | Kendall tau |\n| --- | --- | --- | --- | --- | --- | --- "
          "| --- |")  # fmt: skip
    for pruner in PRUNERS:
        m = result["mean"][pruner]
        print(f"| {pruner} | {m['search_s']:.0f} | {m['hv_latency']:.4g} | {m['hv_flops']:.4g} | "
              f"{m['stopped']:.1f} | {m['epochs_saved']:.0f} | {m['best_accuracy']:.4f} | "
              f"{m.get('kendall_tau', '-')} |")  # fmt: skip
    print(f"stopper / none: {result['ratio']}")
    for seed in range(args.seeds):
        print(
            f"seed {seed}: without the stopper, at the stopper's search time: "
            f"{result['runs'][f'none-s{seed}']['at_stopper_time']} of its final hypervolume"
        )


def finished_by(run: Path, rows: list[dict[str, str]], seconds: float) -> list[dict[str, str]]:
    """The complete trials of `run` finished within `seconds` of its trials' working time (the
    other run's `seconds` include its start-up: a little generous to this one)."""
    from autokd.records.folder import RunFolder, load_study
    from autokd.reporting.data import working_minutes

    trials = {t.number: t for t in load_study(RunFolder(run)).get_trials(deepcopy=False)}
    numbers = [int(r["number"]) for r in rows]
    minutes = working_minutes(trials, numbers)
    return [r for r, m in zip(rows, minutes, strict=True) if m is not None and m * 60 <= seconds]


def _means(rows: list[dict]) -> dict[str, float]:
    keys = ("wall_s", "search_s", "stopped", "epochs_saved", "best_accuracy")
    means = {key: statistics.mean(float(r[key]) for r in rows) for key in keys}
    means["hv_latency"] = statistics.mean(r["hypervolume"]["latency_ms"] for r in rows)
    means["hv_flops"] = statistics.mean(r["hypervolume"]["flops"] for r in rows)
    taus = [r["kendall_tau"] for r in rows if r.get("kendall_tau") is not None]
    if taus:
        means["kendall_tau"] = round(statistics.mean(taus), 3)
    return means


if __name__ == "__main__":
    main()
