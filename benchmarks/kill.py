"""Kill at any moment, lose nothing: `autokd search` and `autokd train --resume` killed with
SIGKILL many times at random moments, each time continued with the same command.

The search, in rounds of a new run each: the digits default space, a tiny teacher (timm's
test_resnet, one epoch) in an empty cache, so that kills land in the teacher's training, its
outputs, trials, and the tables and report; `--budget 12 --epochs 1 --workers 2` (the search and
its worker killed together). Then a bundle of the first run trained for 40 epochs, killed and
resumed. tests/kill_harness.py checks after every kill
that every complete trial stayed complete with its values, and at the end that the budget is
exact, nothing is RUNNING, trials.csv matches the study, the report is fresh and no cache file is
damaged.

Usage: python benchmarks/kill.py [--rounds 6] [--kills-per-round 6] [--train-kills 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, save_result

sys.path.insert(0, str(ROOT))
from tests.kill_harness import KillRecord, kill_search, kill_train  # noqa: E402

BUDGET = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--kills-per-round", type=int, default=6)
    parser.add_argument("--train-kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-kill-"))
    searched = KillRecord()
    started = time.perf_counter()
    for round_ in range(args.rounds):  # each round: a new run in an empty cache
        cache = work / f"cache-{round_}"
        os.environ["AUTOKD_CACHE_DIR"] = str(cache)
        name = f"killed-{round_}"
        search_args = [
            "search", "--budget", str(BUDGET), "--name", name, "--teacher", "test_resnet",
            "--teacher-epochs", "1", "--epochs", "1", "--workers", "2", "--quiet",
        ]  # fmt: skip
        searched.add(
            kill_search(
                search_args,
                cwd=work,
                run=work / "runs" / name,
                cache=cache,
                budget=BUDGET,
                kills=args.kills_per_round,
                seed=args.seed + round_,
                max_delay=12.0,
                aim=True,
            )  # fmt: skip
        )
    search_seconds = time.perf_counter() - started
    cache = work / "cache-0"  # the first run's: its teacher trains the bundle
    os.environ["AUTOKD_CACHE_DIR"] = str(cache)
    export = ["export", "runs/killed-0", "--pick", "knee", "-o", "bundle"]
    subprocess.run([sys.executable, "-m", "autokd", *export], cwd=work, check=True)
    trained = kill_train(
        ["train", "bundle", "--epochs", "40", "--quiet"], cwd=work, output=work / "trained",
        cache=cache, kills=args.train_kills, seed=args.seed, max_delay=10.0, epochs=40,
    )  # fmt: skip
    result = {
        "search": {**searched.as_dict(), "budget": BUDGET, "seconds": round(search_seconds, 1)},
        "train": trained.as_dict(),
        "seed": args.seed,
    }
    save_result("kill", result)
    for label, record in (("search", searched), ("train --resume", trained)):
        print(
            f"{label}: {record.kills} kills over {record.runs} processes, moments "
            f"{dict(record.moments)}; trials lost {record.trials_lost}, stuck {record.stuck}, "
            f"damaged cache files {record.damaged_cache_files}, problems {record.problems}"
        )
    print(f"work folder {work}")


if __name__ == "__main__":
    main()
