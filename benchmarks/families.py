"""The `mobile` family against `cnn`, on the `cpu` and the `onnxruntime` fronts.

Four searches on the default data (`autokd search --space S --target T --budget N`, S in cnn and
mobile, T in cpu and onnxruntime), as a user would type them. For each target: the hypervolume of
each family's accuracy-latency and accuracy-FLOPs front from one shared reference point, the front
sizes, and the fastest student at 0.95 accuracy or better.
Writes benchmarks/results/families.json and prints Markdown for the README. Run it alone.
Usage: python benchmarks/families.py [--budget 30] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from common import autokd, save_result
from loss_menu import hypervolumes

FAMILIES, TARGETS, GOOD = ("cnn", "mobile"), ("cpu", "onnxruntime"), 0.95


def complete(run: Path) -> list[dict[str, str]]:
    with (run / "trials.csv").open() as f:
        return [r for r in csv.DictReader(f) if r["state"] == "COMPLETE"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="autokd-families-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, dict] = {"budget": args.budget}
    for target in TARGETS:
        rows, seconds = {}, {}
        for family in FAMILIES:
            name = f"{family}-{target}"
            _, seconds[family] = autokd("search", "--space", family, "--target", target,
                                        "--budget", str(args.budget), "--name", name, "--quiet",
                                        cwd=work)  # fmt: skip
            rows[family] = complete(work / "runs" / name)
        volumes = hypervolumes(rows)
        result[target] = {}
        for family in FAMILIES:
            good = [r for r in rows[family] if float(r["accuracy"]) >= GOOD]
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
    save_result("families", result)
    print("| target | family | HV accuracy x latency | HV accuracy x FLOPs | front | fastest >= 0.95 |")
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
