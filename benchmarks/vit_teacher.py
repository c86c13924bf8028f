"""A vision-transformer teacher against the resnet18 teacher, teaching `cnn` students.

Two searches on the default data (`autokd search --teacher T --budget N --target cpu`) with
T = resnet18 (the default) and vit_tiny_patch16_224 (created at 16x16 with 2x2 patches, trained
from scratch like the resnet, its token grids from 4 blocks as feature levels). Reports each
teacher's accuracy and training time, and each front's hypervolume (shared reference point) and
best accuracy. Writes benchmarks/results/vit_teacher.json. Run it alone.
Usage: python benchmarks/vit_teacher.py [--budget 30] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import autokd, save_result
from families import complete
from loss_menu import hypervolumes

TEACHERS = ("resnet18", "vit_tiny_patch16_224")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="autokd-vit-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, result = {}, {"budget": args.budget}
    for teacher in TEACHERS:
        _, seconds = autokd("search", "--teacher", teacher, "--budget", str(args.budget),
                            "--target", "cpu", "--name", teacher, "--quiet", cwd=work)  # fmt: skip
        summary = json.loads((work / "runs" / teacher / "summary.json").read_text())
        rows[teacher] = complete(work / "runs" / teacher)
        result[teacher] = {
            "teacher_accuracy": summary["teacher"]["accuracy"],
            "teacher_seconds": summary["teacher"]["seconds"],
            "teacher_params": summary["teacher"]["params"],
            "search_s": round(seconds, 1),
            "best_accuracy": max(float(r["accuracy"]) for r in rows[teacher]),
        }
    for teacher, volumes in hypervolumes(rows).items():
        result[teacher]["hypervolume"] = volumes
    save_result("vit_teacher", result)
    print("| teacher | params | accuracy | trained in | best student | HV accuracy x latency | "
          "HV accuracy x FLOPs |\n| --- | --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for teacher in TEACHERS:
        r = result[teacher]
        print(f"| {teacher} | {r['teacher_params'] / 1e6:.1f} M | {r['teacher_accuracy']:.4f} | "
              f"{r['teacher_seconds']:.0f} s | {r['best_accuracy']:.4f} | "
              f"{r['hypervolume']['latency_ms']:.4g} | {r['hypervolume']['flops']:.4g} |")  # fmt: skip


if __name__ == "__main__":
    main()
