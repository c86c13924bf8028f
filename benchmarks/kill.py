"""Kill at any moment, lose nothing: `autokd search` and `autokd train --resume` killed with
SIGKILL many times at random moments, each time continued with the same command.

The search: the digits default space, a tiny teacher (timm's test_resnet, one epoch) in an empty
cache, so that kills land in the teacher's training, its outputs, trials, and the tables and
report; `--budget 12 --epochs 1 --workers 2` (two processes killed together). Then a bundle of
the run trained for 4 epochs, killed and resumed. tests/kill_harness.py checks after every kill
that every complete trial stayed complete with its values, and at the end that the budget is
exact, nothing is RUNNING, trials.csv matches the study, the report is fresh and no cache file is
damaged.

Usage: python benchmarks/kill.py [--kills 36] [--train-kills 8] [--seed 0]
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
from tests.kill_harness import kill_search, kill_train  # noqa: E402

BUDGET = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=36)
    parser.add_argument("--train-kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-kill-"))
    cache = work / "cache"
    os.environ["AUTOKD_CACHE_DIR"] = str(cache)
    search_args = [
        "search", "--budget", str(BUDGET), "--name", "killed", "--teacher", "test_resnet",
        "--teacher-epochs", "1", "--epochs", "1", "--workers", "2", "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    searched = kill_search(
        search_args, cwd=work, run=work / "runs" / "killed", cache=cache, budget=BUDGET,
        kills=args.kills, seed=args.seed, max_delay=12.0,
    )  # fmt: skip
    search_seconds = time.perf_counter() - started
    bundle = work / "bundle"
    subprocess.run(
        [sys.executable, "-m", "autokd", "export", "runs/killed", "--pick", "knee", "-o", "bundle"],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    trained = kill_train(
        ["train", str(bundle), "--epochs", "4", "--quiet"], cwd=work, output=work / "trained",
        cache=cache, kills=args.train_kills, seed=args.seed, max_delay=10.0, epochs=4,
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
