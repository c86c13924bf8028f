"""What timing a latency costs beside a busy program, and how far its medians move.

The first `--students` distinct architectures of the 2-worker default search in
benchmarks/results/workers.json are timed on the `cpu` target (both cores' threads), in one
process with no search running:
  quiet                 the machine otherwise idle (the reference medians)
  busy                  beside one busy process (`python -c "while True: pass"`)
  busy-trained          the same, each student first trained 20 steps at one thread, as a
                        search worker does before its next architecture is timed
  busy-trained-session  the same with the busy process in a session of its own (another
                        terminal's program)
For each: seconds per measurement (warm-up included), attempts, how many were flagged contended,
and the medians against the quiet ones (share within +-25%, median ratio). The quiet pass's
count of contended flags is the check that a quiet core is not judged contended (a timing
check, so here and not in the tests: on a busy CI runner it would fail for the runner's sake).

Run it alone: nothing else may run on the machine meanwhile (README "Performance").
Usage: python benchmarks/contended_latency.py [--students 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import BUSY, RESULTS, save_result


def time_all(students: list[dict], *, train_first: bool = False) -> list[dict]:
    import torch

    from autokd.measure.latency import measure_latency
    from autokd.measure.metrics import latency_input_shape
    from autokd.measure.targets import load_target
    from autokd.students import build_student, student_from_dict

    target = load_target("cpu")
    rows = []
    for raw in students:
        config = student_from_dict(raw)
        model = build_student(config)
        if train_first:  # a worker's state: one training thread, then a 2-thread timing
            torch.set_num_threads(1)
            batch = torch.randn(64, *latency_input_shape(config, target))
            for _ in range(20):
                model(batch).sum().backward()
        started = time.perf_counter()
        measured = measure_latency(model, target, latency_input_shape(config, target))
        rows.append({"seconds": round(time.perf_counter() - started, 3),
                     "median_ms": measured.median_ms, "attempts": measured.attempts,
                     "contended": measured.contended})  # fmt: skip
    return rows


def time_in_fresh_process(students: list[dict], *, train_first: bool = False) -> list[dict]:
    """`time_all` in a new process: no OpenMP pool or thread count left from an earlier pass."""
    flags = ["--train-first"] if train_first else []
    done = subprocess.run(
        [sys.executable, __file__, "--time-stdin", *flags],
        input=json.dumps(students),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def summary(rows: list[dict], quiet: list[dict]) -> dict:
    ratios = [r["median_ms"] / q["median_ms"] for r, q in zip(rows, quiet, strict=True)]
    return {
        "seconds_total": round(sum(r["seconds"] for r in rows), 2),
        "seconds_per_student": round(statistics.mean(r["seconds"] for r in rows), 3),
        "attempts_mean": round(statistics.mean(r["attempts"] for r in rows), 2),
        "contended": sum(r["contended"] for r in rows),
        "within_25_percent_of_quiet": round(sum(abs(x - 1) <= 0.25 for x in ratios) / len(rows), 3),
        "median_ratio_to_quiet": round(statistics.median(ratios), 3),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--time-stdin", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--train-first", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_stdin:  # one pass, in the process time_in_fresh_process started
        print(json.dumps(time_all(json.load(sys.stdin), train_first=args.train_first)))
        return
    os.environ.setdefault("AUTOKD_CACHE_DIR", tempfile.mkdtemp(prefix="autokd-contended-"))
    searched = json.loads((RESULTS / "workers.json").read_text())["runs"]
    trials = next(run for run in searched if run["name"] == "workers-2")["trials"]
    distinct = {json.dumps(t["student"], sort_keys=True): t["student"] for t in trials}
    students = list(distinct.values())[: args.students]

    quiet = time_in_fresh_process(students)
    result = {"target": "cpu", "students": len(students), "cpus": os.cpu_count(),
              "quiet": summary(quiet, quiet)}  # fmt: skip
    for name, train_first, own_session in (
        ("busy", False, False),
        ("busy-trained", True, False),
        ("busy-trained-session", True, True),
    ):
        hog = subprocess.Popen(BUSY, start_new_session=own_session)
        try:
            time.sleep(1.0)  # the busy process is running before the first timing
            rows = time_in_fresh_process(students, train_first=train_first)
            result[name] = summary(rows, quiet)
        finally:
            hog.kill()
            hog.wait()
    save_result("contended_latency", result)
    print("| run | s per student | attempts | contended | within +-25% of quiet | median ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("quiet", "busy", "busy-trained", "busy-trained-session"):
        r = result[name]
        print(f"| {name} | {r['seconds_per_student']:.2f} | {r['attempts_mean']:.1f} | "
              f"{r['contended']}/{len(students)} | {r['within_25_percent_of_quiet']:.0%} | "
              f"{r['median_ratio_to_quiet']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
