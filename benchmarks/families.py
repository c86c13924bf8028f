"""The `mobile` family against `cnn`, on the `cpu` and the `onnxruntime` fronts.

Four searches on the default data (`autokd search --space S --target T --budget N`, S in cnn and
mobile, T in cpu and onnxruntime), as a user would type them. For each target: the hypervolume of
each family's accuracy-latency and accuracy-FLOPs front from one shared reference point, the front
sizes, and the fastest student at `--good` accuracy or better. `--data` passes data flags to
every search (e.g. "--data fashion-mnist --subset 10000"), `--workers` the search's workers.
Writes benchmarks/results/<--result>.json and prints Markdown for the README. Run it alone.
Usage: python benchmarks/families.py [--budget 30] [--data FLAGS] [--good 0.95] [--workers 1]
                                     [--result families] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import shlex
import tempfile
from pathlib import Path

from common import autokd, save_result
from loss_menu import hypervolumes

FAMILIES, TARGETS = ("cnn", "mobile"), ("cpu", "onnxruntime")


def complete(run: Path) -> list[dict[str, str]]:
    with (run / "trials.csv").open() as f:
        return [r for r in csv.DictReader(f) if r["state"] == "COMPLETE"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--data", default="", help="data flags for every search")
    parser.add_argument("--good", type=float, default=0.95, help="accuracy a student must reach")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--result", default="families", help="name of the results file")
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="autokd-families-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, dict] = {"budget": args.budget, "data": args.data or "digits",
                               "workers": args.workers, "good": args.good}  # fmt: skip
    for target in TARGETS:
        rows, seconds = {}, {}
        for family in FAMILIES:
            name = f"{family}-{target}"
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
            with (work / "runs" / f"{family}-{target}" / "pareto.csv").open() as f:
                front = len(list(csv.DictReader(f)))
            result[target][family] = {
                "hypervolume": volumes[family],
                "front": front,
                "search_s": round(seconds[family], 1),
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
