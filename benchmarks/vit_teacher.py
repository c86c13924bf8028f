"""A vision-transformer teacher against the resnet18 teacher, teaching `cnn` students.

Two searches (`autokd search --teacher T --budget N --target cpu`) with T = resnet18 (the
default) and vit_tiny_patch16_224 (created at the data's size with patches that leave at least a
7x7 token grid, trained from scratch for as many epochs as the resnet, its token grids from 4
blocks as feature levels). Reports each teacher's accuracy and training time, and each front's
hypervolume (shared reference point) and best accuracy. `--data` passes data flags to both
searches (e.g. "--data fashion-mnist --subset 10000 --teacher-epochs 10"); `--baseline RUN` takes
an existing resnet18 run made with the same flags (such as families.py's cnn-cpu) instead of
searching again. Writes benchmarks/results/<--result>.json. Run it alone.
Usage: python benchmarks/vit_teacher.py [--budget 30] [--data FLAGS] [--workers 1]
                                        [--baseline RUN] [--result vit_teacher] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from common import autokd, complete, hypervolumes, save_result, work_folder

TEACHERS = ("resnet18", "vit_tiny_patch16_224")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--data", default="", help="data flags for both searches")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--baseline", type=Path, help="an existing resnet18 run to compare with")
    parser.add_argument("--result", default="vit_teacher", help="name of the results file")
    parser.add_argument("--work", type=Path, help="folder to work in (default: a new temp one)")
    args = parser.parse_args()
    work = work_folder(args.work, "autokd-vit-")
    rows = {}
    result = {"budget": args.budget, "data": args.data or "digits", "workers": args.workers}
    for teacher in TEACHERS:
        run, seconds = work / "runs" / teacher, None
        if teacher == "resnet18" and args.baseline:
            run = args.baseline.resolve()
        else:
            _, seconds = autokd("search", "--teacher", teacher, "--budget", str(args.budget),
                                "--target", "cpu", "--name", teacher, "--quiet", "--workers",
                                args.workers, *shlex.split(args.data), cwd=work)  # fmt: skip
        summary = json.loads((run / "summary.json").read_text())
        rows[teacher] = complete(run)
        result[teacher] = {
            "teacher_accuracy": summary["teacher"]["accuracy"],
            "teacher_seconds": summary["teacher"]["seconds"],
            "teacher_params": summary["teacher"]["params"],
            "search_s": None if seconds is None else round(seconds, 1),
            "search_s_total": summary["timings"].get("search_s"),
            "best_accuracy": max(float(r["accuracy"]) for r in rows[teacher]),
        }
    for teacher, volumes in hypervolumes(rows).items():
        result[teacher]["hypervolume"] = volumes
    save_result(args.result, result)
    print("| teacher | params | accuracy | trained in | best student | HV accuracy x latency | "
          "HV accuracy x FLOPs |\n| --- | --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for teacher in TEACHERS:
        r = result[teacher]
        print(f"| {teacher} | {r['teacher_params'] / 1e6:.1f} M | "
              f"{r['teacher_accuracy']:.4f} | "
              f"{r['teacher_seconds']:.0f} s | {r['best_accuracy']:.4f} | "
              f"{r['hypervolume']['latency_ms']:.4g} | "
              f"{r['hypervolume']['flops']:.4g} |")  # fmt: skip


if __name__ == "__main__":
    main()
