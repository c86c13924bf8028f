"""Trials in parallel on this machine: wall time, front quality and latency trust.

The default search (`autokd search --budget 50 --target cpu`, seed 0), teacher cached and
per-architecture metrics not (every latency is timed in the run), as:
  before          the revision before --workers (`--baseline-rev`, from a git worktree): one
                  process at PyTorch's default threads (2 here), its own default space
  one-process-2-threads  today's code and default space as one process at 2 training threads
                  (`--workers 1`, AUTOKD_THREADS=2): the single process on the same space
  workers-1       `--workers 1` (one process, one training thread)
  workers-2       `--workers 2` (two processes, one thread each; what auto picks on 2 cores)
  workers-2-busy  `--workers 2` beside one busy process (`python -c "while True: pass"`)
  before-busy     the revision before, beside the same busy process (`--with-busy-before`)
then the hand-written reference loop (benchmarks/reference_loop.py) on the same teacher.

For each: wall time from command to report, students on the front, best accuracy, and the
hypervolume of the accuracy-FLOPs front against one reference point (the reference loop's).
Latency trust: the architectures the 2-worker search timed are timed again by a 1-worker search
(their parameters enqueued in a fresh run with an empty metrics cache), and twice more one after
the other in a process that only times them (the second pass against the first is the machine's
own repeatability: the ceiling of any agreement here); the share within +-10% and Spearman's
rank correlation are reported for each.

Run it alone: nothing else may run on the machine meanwhile (README "Performance").
Usage: python benchmarks/workers.py [--budget 50] [--baseline-rev 082f85c] [--with-busy-before]
       [--pruner none]  (the --workers runs without the stopper, as the revision before trained)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BUSY, ROOT, save_result
from reference_loop import REFERENCE, hypervolume_acc_flops


def autokd_command(revision_tree: Path | None) -> tuple[list[str], dict[str, str]]:
    """`python -m autokd` of this checkout, or of an older revision's worktree."""
    env = dict(os.environ)
    if revision_tree is not None:
        env["PYTHONPATH"] = str(revision_tree)
    return [sys.executable, "-m", "autokd"], env


def search(
    work: Path,
    base_cache: Path,
    name: str,
    budget: int,
    extra: list[str],
    *,
    tree: Path | None = None,
    busy: bool = False,
    threads: int | None = None,
) -> dict:
    cache = work / f"cache-{name}"
    shutil.copytree(base_cache, cache, ignore=shutil.ignore_patterns("metrics", "locks"))
    command, env = autokd_command(tree)
    env["AUTOKD_CACHE_DIR"] = str(cache)
    if threads is not None:
        env["AUTOKD_THREADS"] = str(threads)  # training threads, instead of autokd's choice
    args = ["search", "--budget", str(budget), "--target", "cpu", "--name", name, "--quiet"]
    hog = subprocess.Popen(BUSY) if busy else None
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [*command, *args, *extra], cwd=work, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr}")
    summary = json.loads((work / "runs" / name / "summary.json").read_text())
    trials = _complete_trials(work / "runs" / name / "study.db")
    return {
        "name": name,
        "args": extra,
        "busy_process_beside": busy,
        "wall_s": round(wall, 1),
        "complete": summary["trials"].get("complete", 0),
        "stopped": summary.get("stopped", 0),  # by the early stopper; they count in the budget
        "pareto_size": summary["pareto_size"],
        "best_accuracy": summary["best_accuracy"],
        "hypervolume_acc_flops": hypervolume_acc_flops(
            [t["accuracy"] for t in trials], [t["flops"] for t in trials]
        ),
        "train_s_total": summary["timings"].get("train_s_total"),
        "measure_s_total": summary["timings"].get("measure_s_total"),
        "training": summary.get("training"),
        "trials": trials,
    }


def _complete_trials(study_db: Path) -> list[dict]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{study_db}")
    return [
        {
            "number": t.number,
            "accuracy": t.values[0],
            "latency_ms": t.values[1],
            "flops": t.values[2],
            "student": t.user_attrs["student"],
            "params": t.params,
            "metrics_cached": t.user_attrs.get("metrics_cached"),
        }
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    ]


def latency_agreement(run: dict) -> tuple[dict, dict]:
    """Time the run's architectures again, twice over, in a fresh process that only times:
    the 2-worker search against the first pass, and the first pass against the second (how well
    this machine agrees with itself a minute later: the ceiling of any agreement here)."""
    students = {json.dumps(t["student"], sort_keys=True): t for t in run["trials"]}
    script = (
        "import json, sys\n"
        "from autokd.measure.targets import load_target\n"
        "from autokd.measure.metrics import latency_input_shape\n"
        "from autokd.measure.latency import measure_latency\n"
        "from autokd.students import build_student, student_from_dict\n"
        "target = load_target('cpu')\n"
        "configs = [student_from_dict(s) for s in json.load(sys.stdin)]\n"
        "passes = [[measure_latency(build_student(c), target, latency_input_shape(c, target))\n"
        "           .median_ms for c in configs] for _ in range(2)]\n"
        "print(json.dumps(passes))\n"
    )
    trials = list(students.values())
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([t["student"] for t in trials]),
        capture_output=True,
        text=True,
        check=True,
    )
    first, second = json.loads(done.stdout)
    searched = [t["latency_ms"] for t in trials]
    return (
        _agreement(list(zip(first, searched, strict=True))),
        _agreement(list(zip(first, second, strict=True))),
    )


def replay_agreement(work: Path, base_cache: Path, run: dict) -> dict:
    """The acceptance's comparison: the architectures a 2-worker search timed, timed again by a
    1-worker search (their parameters enqueued in a fresh run, empty metrics cache, no stopper:
    every architecture completes with its latency)."""
    import optuna

    name = "replay"
    every = ["--workers", "1", "--pruner", "none"]  # each enqueued student completes
    search(work, base_cache, name, 1, every)
    storage = f"sqlite:///{work / 'runs' / name / 'study.db'}"
    study = optuna.load_study(study_name=None, storage=storage)
    for trial in run["trials"]:
        study.enqueue_trial(trial["params"])
    command, env = autokd_command(None)
    env["AUTOKD_CACHE_DIR"] = str(work / f"cache-{name}")
    budget = 1 + len(run["trials"])
    args = ["search", "--budget", str(budget), "--name", name, *every, "--quiet"]
    subprocess.run([*command, *args], cwd=work, env=env, check=True, capture_output=True)
    replayed = {
        json.dumps(t["student"], sort_keys=True): t["latency_ms"]
        for t in _complete_trials(work / "runs" / name / "study.db")
    }
    pairs = [
        (replayed[key], t["latency_ms"])
        for t in run["trials"]
        if (key := json.dumps(t["student"], sort_keys=True)) in replayed
    ]
    return _agreement(pairs)


def _agreement(pairs: list[tuple[float, float]]) -> dict:
    """Share of (reference, other) pairs within +-10% of the reference, and Spearman's rho."""
    from scipy.stats import spearmanr

    within = sum(abs(b - a) / a <= 0.1 for a, b in pairs) / len(pairs)
    return {
        "architectures": len(pairs),
        "within_10_percent": round(within, 3),
        "spearman": round(
            float(spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic), 4
        ),
        "pairs_ms": [[round(a, 4), round(b, 4)] for a, b in pairs],
    }


def reference(cache: Path, budget: int, seed: int = 0) -> dict:
    """benchmarks/reference_loop.py on the cached teacher; its result, with the wall time here."""
    env = {**os.environ, "AUTOKD_CACHE_DIR": str(cache)}
    script = ROOT / "benchmarks" / "reference_loop.py"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(script), "--trials", str(budget), "--seed", str(seed)],
        env=env,
        check=True,
        capture_output=True,
    )
    name = "reference_loop" if seed == 0 else f"reference_loop_seed{seed}"
    result = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    result["wall_s_measured_here"] = round(time.perf_counter() - started, 1)
    return result


def warm_base_cache(work: Path, seeds: tuple[int, ...] = (0,)) -> Path:
    """The teachers of `seeds` (`--seed` picks the data split and the teacher's initial weights),
    trained once into `work`/cache-base, not timed: every run loads them."""
    base_cache = work / "cache-base"
    command, env = autokd_command(None)
    env["AUTOKD_CACHE_DIR"] = str(base_cache)
    for seed in seeds:
        subprocess.run(
            [*command, "search", "--budget", "1", "--workers", "1", "--name", f"warm{seed}",
             "--seed", str(seed), "--quiet"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )  # fmt: skip
    return base_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--baseline-rev", default="082f85c")
    parser.add_argument("--with-busy-before", action="store_true")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--pruner",
        help="passed to the --workers runs (the revision before had no stopper: `none` trains "
        "every student as it did); results go to workers_pruner-<name>.json",
    )
    args = parser.parse_args()
    pruner = ["--pruner", args.pruner] if args.pruner else []
    work = Path(tempfile.mkdtemp(prefix="autokd-workers-"))
    tree = work / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), args.baseline_rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        base_cache = warm_base_cache(work)
        runs = [
            search(work, base_cache, "before", args.budget, [], tree=tree),
            search(  # today's code and space as one process at 2 threads, as before trained
                work,
                base_cache,
                "one-process-2-threads",
                args.budget,
                ["--workers", "1", *pruner],
                threads=2,
            ),  # fmt: skip
            search(work, base_cache, "workers-1", args.budget, ["--workers", "1", *pruner]),
            search(work, base_cache, "workers-2", args.budget, ["--workers", "2", *pruner]),
            search(
                work,
                base_cache,
                "workers-2-busy",
                args.budget,
                ["--workers", "2", *pruner],
                busy=True,
            ),
        ]
        if args.with_busy_before:
            runs.append(
                search(work, base_cache, "before-busy", args.budget, [], tree=tree, busy=True)
            )
        two_workers = next(run for run in runs if run["name"] == "workers-2")
        agreement, repeatability = latency_agreement(two_workers)
        replay = replay_agreement(work, base_cache, two_workers)
        loop = None if args.skip_reference else reference(base_cache, args.budget)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    result = {
        "command": f"autokd search --budget {args.budget} --target cpu",
        "baseline_revision": args.baseline_rev,
        "cpus": os.cpu_count(),
        "runs": runs,
        "latency_agreement_2_workers_vs_1_worker": replay,
        "latency_agreement_2_workers_vs_alone": agreement,
        "latency_agreement_alone_vs_alone": repeatability,
        "reference_loop": None
        if loop is None
        else {
            "search_s": loop["search_s"],
            "wall_s": loop["wall_s"],
            "best_accuracy": loop["best_accuracy"],
            "hypervolume_acc_flops": loop["hypervolume_acc_flops"],
            "pareto_size_acc_flops": loop.get("pareto_size"),
        },
        "hypervolume_reference": REFERENCE,
    }
    save_result(f"workers_pruner-{args.pruner}" if args.pruner else "workers", result)
    print("| run | wall | complete + stopped | front | best acc | HV acc-FLOPs (x1e7) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in runs:
        print(
            f"| {run['name']} | {run['wall_s']:.0f} s | {run['complete']} + {run['stopped']} "
            f"| {run['pareto_size']} "
            f"| {run['best_accuracy']:.4f} | {run['hypervolume_acc_flops'] / 1e7:.3f} |"
        )
    if loop:
        print(
            f"| reference loop | search {loop['search_s']:.0f} s (wall {loop['wall_s']:.0f} s) | "
            f"| | {loop['best_accuracy']:.4f} | {loop['hypervolume_acc_flops'] / 1e7:.3f} |"
        )
    for label, numbers in (
        ("the 2-worker search against a 1-worker search", replay),
        ("the 2-worker search against a process alone", agreement),
        ("a process alone against itself, a minute later", repeatability),
    ):
        print(
            f"latencies of {label}: "
            f"{numbers['within_10_percent']:.0%} within +-10%, Spearman "
            f"{numbers['spearman']:.3f} over {numbers['architectures']} pairs"
        )
    print(f"work folder {work}")


if __name__ == "__main__":
    main()
